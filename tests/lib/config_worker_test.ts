/**
 * The worker's state folder from the victim's side (found in the worker audit): with --key naming
 * a key kept elsewhere, nothing made the state's folder, so every round was trained, committed
 * and then lost when its record could not be written. The settings check makes the folder (mode
 * 0700) before any network call, or says how to fix it.
 */
import assert from "node:assert/strict";
import { SettingsReader } from "../../lib/_config_reader.ts";
import { checkWorkerFiles } from "../../lib/_config_worker.ts";
import { WorkerState } from "../../lib/worker/state.ts";

/** A valid node key file (mode 0600) in its own folder under `dir`. */
async function keyElsewhere(dir: string): Promise<string> {
  await Deno.mkdir(`${dir}/keys`);
  const key = `${dir}/keys/node.key`;
  await Deno.writeTextFile(key, JSON.stringify({ secretKey: `0x${"11".repeat(32)}` }), {
    mode: 0o600,
  });
  await Deno.chmod(key, 0o600);
  return key;
}

const reader = () => new SettingsReader({}, () => undefined, "/");

Deno.test("victim: a key kept elsewhere, the state's folder is made at start, private", async () => {
  // Prepare
  const dir = await Deno.makeTempDir({ prefix: "artha-state-dir-" });
  try {
    const key = await keyElsewhere(dir);
    const state = `${dir}/laptop/state/worker.json`;
    const r = reader();

    // Execute
    checkWorkerFiles(r, { key, keyName: "--key", state, stateName: "--state" }, true);

    // Assert
    assert.deepEqual(r.problems, []);
    const info = await Deno.stat(`${dir}/laptop/state`);
    assert.ok(info.isDirectory);
    if (Deno.build.os !== "windows") assert.equal(info.mode! & 0o777, 0o700);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("victim: a state folder that cannot be made is refused at start, saying how to fix it", async () => {
  // Prepare: the state's folder would be inside a file.
  const dir = await Deno.makeTempDir({ prefix: "artha-state-dir-" });
  try {
    const key = await keyElsewhere(dir);
    await Deno.writeTextFile(`${dir}/taken`, "");
    const r = reader();

    // Execute
    const state = `${dir}/taken/worker.json`;
    checkWorkerFiles(r, { key, keyName: "--key", state, stateName: "--state" }, true);

    // Assert
    assert.equal(r.problems.length, 1, JSON.stringify(r.problems));
    assert.equal(r.problems[0]!.variable, "--state");
    assert.match(r.problems[0]!.message, /cannot be made .*mkdir -m 700 .*taken/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("victim: a worker state in a folder nobody made keeps its commit all the same", async () => {
  // Prepare: a library caller's state path in a missing folder.
  const dir = await Deno.makeTempDir({ prefix: "artha-state-dir-" });
  try {
    const state = new WorkerState(`${dir}/missing/worker.json`);
    const commit = {
      jobId: "0x01",
      round: 0,
      lossDigest: "0x",
      gradientDigest: "0x",
      weightsDigest: "0x",
      updateCid: "x",
    } as const;

    // Execute
    const kept = await state.saveIntendedCommit(commit, new Uint8Array(4));

    // Assert
    assert.equal(kept, true);
    assert.equal((await state.commits()).length, 1);
    assert.deepEqual(await state.committedUpdate("0x01", 0), new Uint8Array(4));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a required variable the process may not read says so, not that it is unset", () => {
  // Found walking through the README as a new user: `deno run worker.ts` (no --allow-env) with
  // ARTHA_PRIVATE_KEY set answered that it "is not set".
  const denied = new SettingsReader(
    {},
    () => undefined,
    ".",
    (name) => name === "ARTHA_PRIVATE_KEY",
  );
  denied.privateKey({ variable: "ARTHA_PRIVATE_KEY" }, "the node's operator account");
  denied.text({ variable: "ARTHA_COORDINATOR" }, undefined, "where the coordinator is");
  const [key, coordinator] = denied.problems.map((p) => p.message);
  assert.match(key!, /could not be read: this process may not read the environment/);
  assert.match(coordinator!, /is not set \(where the coordinator is\)/);
});
