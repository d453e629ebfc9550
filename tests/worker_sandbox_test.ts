/**
 * The laptop worker runs with the least permissions it needs, tried from the attacker's side: code
 * running inside the sandboxed worker cannot read the owner's home directory (nor, with a key kept
 * outside its folder, the files beside that key), reach other hosts, read other environment
 * variables or run programs; a folder that would open the home directory is refused; `worker.ts` started with broad rights
 * relaunches itself under those permissions, and its sandboxed child never outlives it.
 */
import assert from "node:assert/strict";
import { workerPermissions } from "../lib/worker/sandbox.ts";

const root = new URL("../", import.meta.url);
const deno = Deno.execPath();

/** What the code inside a sandbox may do, probed from a script run under the worker's flags. */
const PROBE = `
const out = {};
const tryIt = async (name, fn) => { try { await fn(); out[name] = "allowed"; } catch (e) {
  // fetch wraps the refusal in a TypeError; its message still names the missing permission.
  out[name] = e.name === "NotCapable" || /Requires \\w+ access/.test(e.message) ? "NotCapable" : e.name;
} };
await tryIt("readSecret", () => Deno.readTextFile(Deno.env.get("HOME") + "/secret.txt"));
await tryIt("readKeyDir", () => Deno.readTextFile(Deno.env.get("HOME") + "/.artha/node.key"));
await tryIt("readKeyFile", () => Deno.readTextFile(Deno.env.get("HOME") + "/keys/node.key"));
await tryIt("readKeySibling", () => Deno.readTextFile(Deno.env.get("HOME") + "/keys/other.key"));
await tryIt("writeHome", () => Deno.writeTextFile(Deno.env.get("HOME") + "/planted.txt", "x"));
await tryIt("writeState", () => Deno.writeTextFile(Deno.env.get("HOME") + "/.artha/ok.json", "{}"));
await tryIt("otherHost", () => fetch("http://127.0.0.1:8080/"));
await tryIt("otherEnv", () => Deno.env.get("AWS_SECRET_ACCESS_KEY"));
await tryIt("run", () => new Deno.Command("true").output());
console.log(JSON.stringify(out));
`;

Deno.test("worker sandbox", async (t) => {
  const home = await Deno.makeTempDir({ prefix: "artha-home-" });
  await Deno.mkdir(`${home}/.artha`);
  await Deno.writeTextFile(`${home}/secret.txt`, "the owner's tax return");
  await Deno.writeTextFile(`${home}/.artha/node.key`, "{}");
  // A key kept outside the worker's folder, beside another secret.
  await Deno.mkdir(`${home}/keys`);
  await Deno.writeTextFile(`${home}/keys/node.key`, "{}");
  await Deno.writeTextFile(`${home}/keys/other.key`, "another secret");
  const addresses = `${home}/addresses.json`;
  const contracts = ["registry", "reputation", "jobs", "proofs", "models", "dids"];
  const someAddress = `0x${"11".repeat(20)}`;
  await Deno.writeTextFile(
    addresses,
    JSON.stringify(Object.fromEntries(
      [...contracts, "verification", "disputes"].map((c) => [c, someAddress]),
    )),
  );
  const probe = `${home}/probe.js`;
  await Deno.writeTextFile(probe, PROBE);
  // A chain endpoint that never answers: the worker waits in registration until it is stopped.
  const pending: (() => void)[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Promise<Response>((r) => pending.push(() => r(new Response("{}")))),
  );
  const rpc = `http://127.0.0.1:${server.addr.port}`;
  const resources = {
    coordinator: "http://127.0.0.1:8787",
    rpc,
    key: `${home}/.artha/node.key`,
    state: `${home}/.artha/worker.json`,
    addresses,
  };
  try {
    await t.step("code inside the sandbox cannot read home, reach other hosts or run", async () => {
      const out = await new Deno.Command(deno, {
        args: ["run", ...workerPermissions(resources), probe],
        env: { HOME: home, AWS_SECRET_ACCESS_KEY: "s3cr3t" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const seen = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.deepEqual(seen, {
        readSecret: "NotCapable",
        readKeyDir: "allowed",
        readKeyFile: "NotCapable",
        readKeySibling: "NotCapable",
        writeHome: "NotCapable",
        writeState: "allowed",
        otherHost: "NotCapable",
        otherEnv: "NotCapable",
        run: "NotCapable",
      });
    });

    await t.step("a key kept elsewhere is readable as that one file only", async () => {
      const out = await new Deno.Command(deno, {
        args: ["run", ...workerPermissions({ ...resources, key: `${home}/keys/node.key` }), probe],
        env: { HOME: home },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const seen = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.equal(seen.readKeyFile, "allowed");
      assert.equal(seen.readKeySibling, "NotCapable");
      assert.equal(seen.readSecret, "NotCapable");
    });

    await t.step("a key or state folder that is or holds the home directory is refused", () => {
      for (const bad of [{ key: `${home}/node.key` }, { state: "/worker.json" }, { key: "/k" }]) {
        assert.throws(
          () => workerPermissions({ ...resources, ...bad, home }),
          /Cannot sandbox the worker in .*: it holds the home directory/,
        );
      }
      const parent = home.slice(0, home.lastIndexOf("/"));
      assert.throws(() => workerPermissions({ ...resources, state: `${parent}/w.json`, home }));
    });

    await t.step("worker.ts relaunches itself scoped, and its child dies with it", async () => {
      // No placeholder key: the worker checks a key file before starting, and makes one if none.
      await Deno.remove(resources.key);
      const parent = new Deno.Command(deno, {
        args: [
          "run",
          "-A",
          "worker.ts",
          ...["--coordinator", resources.coordinator, "--rpc", rpc, "--addresses", addresses],
          ...["--key", resources.key, "--state", resources.state],
        ],
        cwd: root,
        env: { HOME: home, ARTHA_PRIVATE_KEY: `0x${"11".repeat(32)}` },
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = parent.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!/sandbox \(pid \d+\)[^\n]*\n/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      const m = /sandbox \(pid (\d+)\): ([^\n]*)/.exec(text);
      assert.ok(m, `no sandbox line in ${JSON.stringify(text)}`);
      assert.equal(m[2], "read scoped, write scoped, net scoped, run scoped");
      const child = Number(m[1]);
      assert.notEqual(child, parent.pid);
      parent.kill("SIGKILL");
      await parent.status;
      await reader.cancel();
      let alive = true;
      for (let i = 0; i < 100 && alive; i++) {
        try {
          Deno.kill(child, "SIGCONT");
          await new Promise((r) => setTimeout(r, 50));
        } catch {
          alive = false;
        }
      }
      assert.equal(alive, false, "the sandboxed worker exited with its parent");
    });
  } finally {
    for (const release of pending) release();
    await server.shutdown();
    await Deno.remove(home, { recursive: true });
  }
});
