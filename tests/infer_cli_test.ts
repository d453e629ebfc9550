/**
 * `deno task infer` errors are one line naming what failed, exit status 2, never a stack trace:
 * a CID that is not one, a model that is nowhere, a folder that is no model, a gateway that is down
 * (after retries naming its URL), every bad flag or variable at once (ARTHA_INFER_BACKEND too).
 * And a folder whose graph keeps its weights as external data (the layout past 2 GB) generates
 * what the same model's embedded folder does.
 */
import assert from "node:assert/strict";
import { initWeights, type ModelConfig, paramLayout } from "../kernel/params.ts";
import { loadKernel } from "../kernel/wasm_module.ts";
import { exportHfModelChunks, writeModelFiles } from "../lib/model/hf_model.ts";

async function infer(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "infer.ts", ...args, "The jury said"],
    cwd: new URL("../", import.meta.url),
    env: { ARTHA_STORE_DIR: "/nonexistent-artha-store", NO_COLOR: "1", ...env },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
}

const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

/** A port nothing listens on. */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("infer CLI: user errors are one clear line", async (t) => {
  const empty = await Deno.makeTempDir({ prefix: "artha-not-a-model-" });
  try {
    const cases: [string[], RegExp, Record<string, string>?][] = [
      // A path that is no folder is named as one (it was "Cannot parse CID").
      [
        ["--model", "notacid"],
        /^Cannot load model notacid: \S+notacid is no folder here, and not an artha:\/\/CID or CID either$/,
      ],
      [["--model", CID], /^Cannot load model bafk\S+: .*give a store directory or a gateway/],
      [["--model", empty], /^Cannot load model .*artha-not-a-model-/],
      // Every bad flag and variable at once, as a configuration error.
      [
        ["--bogus", "--model", "x"],
        /^Cannot read configuration: --bogus is not a flag of deno task infer/,
      ],
      [
        ["--model", empty, "--top-k", "x", "--temperature=-1"],
        /--temperature must be a number .*; --top-k must be an integer/,
      ],
      [
        ["--model", empty],
        /^Cannot read configuration: ARTHA_INFER_BACKEND must be one of auto, ort-node, ort-web, kernel, got gpu$/,
        { ARTHA_INFER_BACKEND: "gpu" },
      ],
    ];
    for (const [args, expected, env] of cases) {
      await t.step(args.join(" "), async () => {
        const { code, stderr } = await infer(args, env);
        assert.equal(code, 2);
        assert.equal(stderr.split("\n").length, 1, stderr);
        assert.match(stderr, expected);
      });
    }
    await t.step("a gateway that is down is retried, naming its URL, then one line", async () => {
      const gateway = `http://127.0.0.1:${closedPort()}`;
      const { code, stderr } = await infer(["--model", CID, "--gateway", gateway]);
      assert.equal(code, 2);
      const lines = stderr.split("\n");
      assert.equal(lines.length, 3, stderr);
      for (const retry of lines.slice(0, 2)) {
        assert.match(
          retry,
          new RegExp(`^Cannot reach the gateway at ${gateway}/svdb/${CID}: .*retrying in`),
        );
      }
      assert.match(
        lines[2]!,
        new RegExp(`^Cannot load model bafk\\S+: Cannot reach the gateway ${gateway}`),
      );
    });
    await t.step("an explicit --gateway is tried even when a local store exists", async () => {
      const gateway = `http://127.0.0.1:${closedPort()}`;
      // The store exists (an empty folder) but has no such model: the gateway must be asked.
      const { code, stderr } = await infer(["--model", CID, "--gateway", gateway], {
        ARTHA_STORE_DIR: empty,
      });
      assert.equal(code, 2);
      assert.match(stderr.split("\n").at(-1)!, new RegExp(`the gateway ${gateway}`));
    });
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
