/**
 * The invariant the protocol rests on: a training step is a pure function with bit-identical
 * output everywhere. Same step twice in Deno, once under Node, and against checked-in digests.
 * Regenerate the fixture after an intended numerical change with:
 *   UPDATE_GOLDEN=1 deno test -A tests/kernel/determinism_test.ts
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { KERNEL_WASM_URL, loadKernel } from "../../kernel/wasm_module.ts";
import { type CaseResult, runCases } from "./determinism_case.ts";

const GOLDEN = new URL("./fixtures/step_digests.json", import.meta.url);

Deno.test("train step: identical digests across runs and kernel instances", () => {
  const kernel = loadKernel();
  const first = runCases(kernel);
  assert.deepEqual(runCases(kernel), first, "same kernel instance, workspace reused");
  assert.deepEqual(runCases(loadKernel()), first, "fresh kernel instance");
  // Every f32x4 op swapped for its naive scalar twin: same reduction order, so the same bits.
  assert.deepEqual(runCases(loadKernel(KERNEL_WASM_URL, { scalarOps: true })), first, "scalar ops");
  for (const c of first) assert.ok(Number.isFinite(c.loss) && c.loss > 0, `${c.name} loss`);
});

Deno.test("train step: Node computes the same digests as Deno", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kernel-node-" });
  try {
    const bundle = `${dir}/runner.mjs`;
    const built = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--config",
        fromFileUrl(new URL("../../deno.json", import.meta.url)),
        fromFileUrl(new URL("./node_runner.ts", import.meta.url)),
        "-o",
        bundle,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(built.success, `deno bundle failed: ${new TextDecoder().decode(built.stderr)}`);
    const run = await new Deno.Command("node", {
      args: [bundle, fromFileUrl(KERNEL_WASM_URL)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(run.success, `node failed: ${new TextDecoder().decode(run.stderr)}`);
    const fromNode: CaseResult[] = JSON.parse(new TextDecoder().decode(run.stdout));
    assert.deepEqual(fromNode, runCases(loadKernel()));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train step: digests match the checked-in reference", async () => {
  const now = runCases(loadKernel());
  if (Deno.env.get("UPDATE_GOLDEN")) {
    await Deno.writeTextFile(GOLDEN, JSON.stringify(now, null, 2) + "\n");
  }
  const golden: CaseResult[] = JSON.parse(await Deno.readTextFile(GOLDEN));
  assert.deepEqual(now, golden);
});
