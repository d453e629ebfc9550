/**
 * `deno task infer` errors are one line naming what failed, exit status 2, never a stack trace:
 * a CID that is not one, a model that is nowhere, a folder that is no model, a gateway that is down.
 * And a folder whose graph keeps its weights as external data (the layout past 2 GB) generates
 * what the same model's embedded folder does.
 */
import assert from "node:assert/strict";
import { initWeights, type ModelConfig, paramLayout } from "../kernel/params.ts";
import { loadKernel } from "../kernel/wasm_module.ts";
import { exportHfModelChunks, writeModelFiles } from "../lib/model/hf_model.ts";

async function infer(...args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "infer.ts", ...args, "The jury said"],
    cwd: new URL("../", import.meta.url),
    env: { ARTHA_STORE_DIR: "/nonexistent-artha-store" },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
}

Deno.test("infer CLI: user errors are one clear line", async (t) => {
  const empty = await Deno.makeTempDir({ prefix: "artha-not-a-model-" });
  try {
    const cases: [string[], RegExp][] = [
      [["--model", "notacid"], /^Cannot load model notacid: Cannot parse CID/],
      [
        ["--model", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"],
        /^Cannot load model bafk\S+: .*give a store directory or a gateway/,
      ],
      [["--model", empty], /^Cannot load model .*artha-not-a-model-/],
      [
        [
          "--model",
          "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
          "--gateway",
          "http://127.0.0.1:59999",
        ],
        /^Cannot load model bafk\S+: Cannot reach the gateway http:\/\/127\.0\.0\.1:59999/,
      ],
    ];
    for (const [args, expected] of cases) {
      await t.step(args.join(" "), async () => {
        const { code, stderr } = await infer(...args);
        assert.equal(code, 2);
        assert.equal(stderr.split("\n").length, 1, stderr);
        assert.match(stderr, expected);
      });
    }
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

/** What `infer --model dir` prints, greedy, on one backend. */
async function generated(dir: string, backend: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "infer.ts", "--model", dir, "--backend", backend, "--temperature", "0"]
      .concat(["--max-tokens", "16", "The jury said"]),
    cwd: new URL("../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("infer CLI: an external-data folder generates as the embedded one", async () => {
  // Prepare
  const config: ModelConfig = { kind: "gpt", maxT: 32, layers: 2, heads: 4, width: 64 };
  const weights = initWeights(loadKernel(), paramLayout(config), 7).map((x) => 4 * x);
  const root = await Deno.makeTempDir({ prefix: "artha-infer-external-" });
  try {
    await writeModelFiles(`${root}/embedded`, exportHfModelChunks(config, weights));
    await writeModelFiles(
      `${root}/external`,
      exportHfModelChunks(config, weights, {}, { maxOnnxBytes: 0 }),
    );
    // Execute
    const want = await generated(`${root}/embedded`, "ort-node");
    const viaNode = await generated(`${root}/external`, "ort-node");
    const viaKernel = await generated(`${root}/external`, "kernel");
    // Assert
    assert.ok(want.startsWith("The jury said") && want.length > "The jury said".length + 8);
    assert.equal(viaNode, want);
    assert.equal(viaKernel, want, "the kernel reads the same weights from model.safetensors");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
