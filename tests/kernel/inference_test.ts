/**
 * The exported model against the kernel's own forward pass: ONNX on onnxruntime-node and
 * onnxruntime-web (prefill and step-by-step with the KV cache), the HF folder on transformers.js,
 * and generation through the runtime on every backend.
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { createForward } from "../../kernel/forward.ts";
import { exportOnnx } from "../../kernel/onnx_export.ts";
import { initWeights, type ModelConfig, paramLayout } from "../../kernel/params.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import { createBackend, generate } from "../../kernel/inference/runtime.ts";
import type { DecoderBackend } from "../../kernel/inference/backend.ts";
import { createRng, sampleToken } from "../../kernel/inference/sampler.ts";
import { exportHfModel, readHfModel } from "../../lib/model/hf_model.ts";

/** The demo's reference shape. */
const CONFIG: ModelConfig = { kind: "gpt", maxT: 32, layers: 2, heads: 4, width: 64 };
const TOLERANCE = 1e-4;
const kernel = loadKernel();
// Initial weights scaled up 4x: wide activations exercise GELU's clamp and sharp softmaxes.
const weights = initWeights(kernel, paramLayout(CONFIG), 11).map((x) => 4 * x);
const fwd = createForward(kernel, CONFIG, weights);
// 32 bytes (one two-byte character): fills the context exactly.
const TEXT = new TextEncoder().encode("The jury said the élection was.");
const tokens = Array.from(TEXT);
const reference = fwd.logits(tokens);

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** Logits of every position, computed as a prefill of 12 tokens then one token per step. */
async function stepwise(backend: DecoderBackend): Promise<Float32Array> {
  const out = new Float32Array(tokens.length * 256);
  let { logits, state } = await backend.step(tokens.slice(0, 12), null);
  out.set(logits, 0);
  for (let t = 12; t < tokens.length; t++) {
    ({ logits, state } = await backend.step([tokens[t]!], state));
    out.set(logits, t * 256);
  }
  return out;
}

const model = { config: CONFIG, weights, onnx: exportOnnx(CONFIG, weights) };

for (const name of ["ort-node", "ort-web", "kernel"] as const) {
  Deno.test(`inference: ${name} logits match the kernel forward within ${TOLERANCE}`, async () => {
    const backend = await createBackend(model, { backend: name });
    try {
      const full = await backend.step(tokens, null);
      const dFull = maxDiff(full.logits, reference);
      const dStep = maxDiff(await stepwise(backend), reference);
      console.log(`${name}/${backend.device}: max |diff| prefill ${dFull}, kv-cache ${dStep}`);
      assert.ok(dFull < TOLERANCE && dStep < TOLERANCE, `${dFull} ${dStep}`);
      await assert.rejects(() => backend.step([1], full.state), RangeError, "context is full");
    } finally {
      await backend.dispose();
    }
  });
}

Deno.test("inference: generation is seeded and the same on ort-node and the kernel", async () => {
  const runs: number[][] = [];
  for (const name of ["ort-node", "kernel", "ort-node"] as const) {
    const backend = await createBackend(model, { backend: name });
    const ids: number[] = [];
    // 70 tokens from a 20-byte prompt: two context shifts past maxT = 32.
    for await (
      const t of generate(backend, tokens.slice(0, 20), {
        maxTokens: 70,
        temperature: 0.7,
        topK: 20,
        seed: 5,
      })
    ) ids.push(t);
    await backend.dispose();
    runs.push(ids);
  }
  assert.equal(runs[0]!.length, 70);
  assert.deepEqual(runs[0], runs[2], "same seed, same tokens");
  assert.deepEqual(runs[0], runs[1], "ort-node and kernel agree");
});

Deno.test("inference: the sampler", () => {
  const logits = new Float32Array(256).fill(-5);
  logits[7] = 3;
  logits[9] = 3;
  logits[200] = 2.5;
  assert.equal(sampleToken(logits, { temperature: 0 }, createRng(1)), 7, "greedy, lowest id");
  const seen = new Set<number>();
  const rng = createRng(42);
  for (let i = 0; i < 200; i++) seen.add(sampleToken(logits, { topK: 2 }, rng));
  assert.deepEqual([...seen].sort((a, b) => a - b), [7, 9], "top-k keeps the two best");
  const a = createRng(3), b = createRng(3);
  assert.deepEqual([a(), a(), a()], [b(), b(), b()]);
  assert.throws(() => sampleToken(logits, { temperature: -1 }, rng), RangeError);
});

Deno.test("inference: the HF folder loads offline in transformers.js and generates", async () => {
  const files = exportHfModel(CONFIG, weights, { round: "3" });
  const back = readHfModel(files);
  assert.deepEqual(back.weights, weights);
  assert.equal(back.info.metadata.round, "3");
  const root = await Deno.makeTempDir({ prefix: "artha-hf-" });
  try {
    for (const [name, bytes] of Object.entries(files)) {
      await Deno.mkdir(dirname(`${root}/m/${name}`), { recursive: true });
      await Deno.writeFile(`${root}/m/${name}`, bytes);
    }
    const tf = await import("@huggingface/transformers");
    tf.env.allowRemoteModels = false;
    tf.env.localModelPath = `${root}/`;
    const tokenizer = await tf.AutoTokenizer.from_pretrained("m");
    const lm = await tf.AutoModelForCausalLM.from_pretrained("m", { dtype: "fp32" });
    const text = new TextDecoder().decode(TEXT);
    const enc = tokenizer(text);
    assert.deepEqual(Array.from(enc.input_ids.data as BigInt64Array, Number), Array.from(TEXT));
    const out = await lm(enc);
    const d = maxDiff(
      (out.logits.data as Float32Array).slice(0, tokens.length * 256),
      reference,
    );
    console.log(`transformers.js: max |diff| ${d}`);
    assert.ok(d < TOLERANCE, String(d));
    const gen = await lm.generate({
      input_ids: enc.input_ids.slice(null, [0, 10]),
      attention_mask: enc.attention_mask.slice(null, [0, 10]),
      max_new_tokens: 12,
      do_sample: false,
    }) as { dims: number[]; tolist(): bigint[][] };
    assert.deepEqual(gen.dims, [1, 22]);
    // Greedy decoding agrees with the kernel's argmax at every step.
    const ids = gen.tolist()[0]!.map(Number);
    for (let t = 10; t < 22; t++) {
      const row = fwd.logits(ids.slice(0, t)).slice((t - 1) * 256);
      assert.equal(ids[t], sampleToken(row, { temperature: 0 }, createRng(0)), `token ${t}`);
    }
    assert.equal(tokenizer.decode([72, 195, 169]), "Hé", "byte-level decoding");
    await lm.dispose();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("inference: SSM models have no ONNX export", () => {
  const ssm: ModelConfig = { kind: "ssm", maxT: 8, layers: 1, heads: 2, width: 8 };
  assert.throws(
    () => exportOnnx(ssm, new Float32Array(paramLayout(ssm).size)),
    TypeError,
  );
});
