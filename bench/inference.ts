/**
 * Generation speed of the reference model (the demo's GPT: maxT 32, 2 layers, 4 heads, width 64,
 * briefly trained on Brown) on every backend, against transformers.js on the same exported folder:
 *
 *   deno task bench:inference [--steps 600] [--runs 15]
 *
 * Workload: an 8-byte prompt and 24 sampled bytes (temperature 1, top-k 40), which fills the
 * 32-position context exactly, so transformers.js (which stops at n_positions) runs the same job.
 * Reported per backend: median tokens/s over the 24 tokens, median first-token latency (prefill
 * of the prompt + one sample, fresh state), the ratio to transformers.js, and the max |diff| of
 * its logits against the kernel's forward pass. A second row per runtime backend generates 256
 * bytes (with context shifts). One process, 2 warm-up runs, then `runs` timed runs.
 */
import { parseArgs } from "node:util";
import { dirname } from "node:path";
import { loadBrownShards, mergeShards, sampleBatch } from "../kernel/data.ts";
import { createForward } from "../kernel/forward.ts";
import { DEFAULT_ADAMW, initOptState } from "../kernel/optimizer.ts";
import { initWeights, type ModelConfig, paramLayout } from "../kernel/params.ts";
import { createTrainer, type Hyper } from "../kernel/train_step.ts";
import { loadKernel } from "../kernel/wasm_module.ts";
import { createBackend, type DecoderBackend, generate } from "../kernel/inference/runtime.ts";
import { exportHfModel, readHfModel } from "../lib/model/hf_model.ts";

const { values: a } = parseArgs({
  args: Deno.args,
  options: { steps: { type: "string", default: "600" }, runs: { type: "string", default: "15" } },
});
const RUNS = Number(a.runs);
const CONFIG: ModelConfig = { kind: "gpt", maxT: 32, layers: 2, heads: 4, width: 64 };
const PROMPT = "The jury";
const NEW = 24;

// 1. The reference model: a short central run on Brown.
const kernel = loadKernel();
const steps = Number(a.steps);
const hyper: Hyper = {
  model: CONFIG,
  B: 8,
  T: 32,
  accumSteps: 1,
  schedule: { lr: 3e-3, warmupSteps: 10, totalSteps: steps, minLrRatio: 0.1 },
  optimizer: { ...DEFAULT_ADAMW, weightDecay: 0.1 },
  gradClip: 1,
};
const data = mergeShards("brown", loadBrownShards());
const trainer = createTrainer(kernel);
let weights = initWeights(kernel, paramLayout(CONFIG), 1337);
let opt = initOptState("adamw", weights.length);
let loss = NaN;
for (let step = 0; step < steps; step++) {
  const r = trainer.trainStep(
    weights,
    opt,
    sampleBatch(data.train, 8, 32, 1337, step),
    step,
    hyper,
  );
  weights = r.weights;
  opt = r.optState;
  loss = r.loss;
}
console.log(
  `reference model: ${weights.length} params, ${steps} steps on Brown, train loss ${
    loss.toFixed(3)
  } nats/byte`,
);

// 2. The exported folder, on disk for transformers.js.
const files = exportHfModel(CONFIG, weights);
const root = await Deno.makeTempDir({ prefix: "artha-bench-" });
for (const [name, bytes] of Object.entries(files)) {
  await Deno.mkdir(dirname(`${root}/ref/${name}`), { recursive: true });
  await Deno.writeFile(`${root}/ref/${name}`, bytes);
}
const model = readHfModel(files);
const prompt = Array.from(new TextEncoder().encode(PROMPT));
const probe = Array.from(new TextEncoder().encode("It was a dark and stormy night, "));
const reference = createForward(kernel, CONFIG, weights).logits(probe);
const maxDiff = (x: Float32Array) => {
  let d = 0;
  for (let i = 0; i < reference.length; i++) d = Math.max(d, Math.abs(x[i]! - reference[i]!));
  return d;
};

const median = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)]!;
};
async function timed(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 2; i++) await run();
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await run();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

interface Row {
  name: string;
  tokPerS: number;
  firstMs: number;
  diff: number | string;
  longTokPerS?: number;
}
const rows: Row[] = [];

async function benchBackend(b: DecoderBackend): Promise<Row> {
  const gen = async (n: number, from = prompt) => {
    for await (const _ of generate(b, from, { maxTokens: n, temperature: 1, topK: 40, seed: 1 }));
  };
  const full = await timed(() => gen(NEW));
  const first = await timed(() => gen(1));
  const long = await timed(() => gen(256));
  const diff = maxDiff((await b.step(probe, null)).logits);
  return {
    name: `${b.name}/${b.device}`,
    tokPerS: NEW / (full / 1000),
    firstMs: first,
    diff,
    longTokPerS: 256 / (long / 1000),
  };
}

for (const name of ["ort-web", "ort-node", "kernel"] as const) {
  const b = await createBackend(model, { backend: name });
  rows.push(await benchBackend(b));
  await b.dispose();
}

// 3. transformers.js on the same folder (it uses onnxruntime-node in Deno).
const tf = await import("@huggingface/transformers");
tf.env.allowRemoteModels = false;
tf.env.localModelPath = `${root}/`;
const tokenizer = await tf.AutoTokenizer.from_pretrained("ref");
const lm = await tf.AutoModelForCausalLM.from_pretrained("ref", { dtype: "fp32" });
const inputs = tokenizer(PROMPT);
const tjsGen = (n: number) =>
  lm.generate({ ...inputs, max_new_tokens: n, do_sample: true, top_k: 40, temperature: 1 });
const tjsFull = await timed(() => tjsGen(NEW));
const tjsFirst = await timed(() => tjsGen(1));
const tjsLogits = (await lm(tokenizer(new TextDecoder().decode(Uint8Array.from(probe)))))
  .logits.data as Float32Array;
const tjs: Row = {
  name: "transformers.js (ort-node)",
  tokPerS: NEW / (tjsFull / 1000),
  firstMs: tjsFirst,
  diff: maxDiff(tjsLogits),
};
rows.push(tjs);
await lm.dispose();
await Deno.remove(root, { recursive: true });

console.log(
  `\n${PROMPT.length}-byte prompt + ${NEW} sampled bytes; median of ${RUNS} runs; ` +
    `logits |diff| vs kernel forward on 32 positions`,
);
console.log(
  "backend".padEnd(28) + "tok/s".padStart(9) + "  x tjs" + "first-token ms".padStart(16) +
    "  x tjs" + "max|diff|".padStart(11) + "  tok/s (256, shifts)".padStart(22),
);
for (const r of rows) {
  console.log(
    r.name.padEnd(28) + r.tokPerS.toFixed(0).padStart(9) +
      `${(r.tokPerS / tjs.tokPerS).toFixed(2)}x`.padStart(7) + r.firstMs.toFixed(2).padStart(16) +
      `${(r.firstMs / tjs.firstMs).toFixed(2)}x`.padStart(7) +
      (typeof r.diff === "number" ? r.diff.toExponential(1) : r.diff).padStart(11) +
      (r.longTokPerS ? r.longTokPerS.toFixed(0) : "-").padStart(22),
  );
}
