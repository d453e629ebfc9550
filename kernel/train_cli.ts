/**
 * Central reference training run on Brown (all genres merged), reporting validation loss
 * against the unigram baseline.
 *
 *   deno task train                         # GPT, 600 steps (~3-4 min on 2 cores)
 *   deno task train --model=ssm --steps=300
 *   deno task train --corpus=sotu --layers=2 --width=64
 *
 * Losses are mean cross-entropy per byte, printed in nats and in bits (nats / ln 2).
 */
import { parseArgs } from "node:util";
import {
  evalBatches,
  loadBrownShards,
  loadSotuShards,
  mergeShards,
  sampleBatch,
  unigramBaseline,
} from "./data.ts";
import { digestWeights } from "./digest.ts";
import { DEFAULT_ADAMW, DEFAULT_SGD_MOMENTUM, initOptState } from "./optimizer.ts";
import { initWeights, paramLayout } from "./params.ts";
import { createTrainer, type Hyper } from "./train_step.ts";
import { loadKernel } from "./wasm_module.ts";

const OPTIONS = {
  model: { type: "string", default: "gpt" },
  corpus: { type: "string", default: "brown" },
  steps: { type: "string", default: "600" },
  layers: { type: "string", default: "4" },
  heads: { type: "string", default: "4" },
  width: { type: "string", default: "128" },
  T: { type: "string", default: "64" },
  B: { type: "string", default: "16" },
  accum: { type: "string", default: "1" },
  lr: { type: "string", default: "3e-3" },
  optimizer: { type: "string", default: "adamw" },
  seed: { type: "string", default: "1337" },
  "eval-every": { type: "string", default: "100" },
  "eval-batches": { type: "string", default: "24" },
} as const;

/**
 * The flags, every problem reported at once in one line with exit status 2 (as lib/config.ts
 * does for the other commands; the kernel does not import lib/, so this is its own small check).
 */
function readFlags(args: string[]) {
  let values;
  try {
    values = parseArgs({ args, options: OPTIONS, strict: true }).values;
  } catch (e) {
    console.error(`Cannot read configuration: ${(e as Error).message.split("\n")[0]}`);
    Deno.exit(2);
  }
  const problems: string[] = [];
  const positive = ["steps", "layers", "heads", "width", "T", "B", "accum", "eval-every"];
  for (const name of [...positive, "eval-batches", "seed"]) {
    const n = Number(values[name as keyof typeof values]);
    const min = positive.includes(name) ? 1 : 0;
    if (!Number.isInteger(n) || n < min) {
      problems.push(
        `--${name} must be an integer >= ${min}, got ${values[name as keyof typeof values]}`,
      );
    }
  }
  if (!(Number(values.lr) > 0)) problems.push(`--lr must be a number > 0, got ${values.lr}`);
  const choices: [string, string[]][] = [
    ["model", ["gpt", "ssm"]],
    ["corpus", ["brown", "sotu"]],
    ["optimizer", ["adamw", "sgd"]],
  ];
  for (const [name, allowed] of choices) {
    const v = String(values[name as keyof typeof values]);
    if (!allowed.includes(v)) {
      problems.push(`--${name} must be one of ${allowed.join(", ")}, got ${v}`);
    }
  }
  if (problems.length) {
    console.error(`Cannot read configuration: ${problems.join("; ")}`);
    Deno.exit(2);
  }
  return values;
}

const a = readFlags(Deno.args);

const num = (s: string | undefined) => Number(s);
const steps = num(a.steps);
const T = num(a.T);
const hyper: Hyper = {
  model: {
    kind: a.model === "ssm" ? "ssm" : "gpt",
    maxT: T,
    layers: num(a.layers),
    heads: num(a.heads),
    width: num(a.width),
  },
  B: num(a.B),
  T,
  accumSteps: num(a.accum),
  schedule: {
    lr: num(a.lr),
    warmupSteps: Math.min(50, steps / 10),
    totalSteps: steps,
    minLrRatio: 0.1,
  },
  optimizer: a.optimizer === "sgd"
    ? { kind: "sgd", momentum: DEFAULT_SGD_MOMENTUM, weightDecay: 0 }
    // The centralised baseline follows the GPT-2 recipe's stronger decay.
    : { ...DEFAULT_ADAMW, weightDecay: 0.1 },
  gradClip: 1,
};
const seed = num(a.seed);

const shards = a.corpus === "sotu" ? loadSotuShards("all") : loadBrownShards();
const data = mergeShards(a.corpus ?? "brown", shards);
const baseline = unigramBaseline(data.train, data.val);
const valSet = evalBatches(data.val, hyper.accumSteps * hyper.B, T, num(a["eval-batches"]));

const kernel = loadKernel();
const { trainStep, evalLoss } = createTrainer(kernel);
const layout = paramLayout(hyper.model);
let weights = initWeights(kernel, layout, seed);
let opt = initOptState(hyper.optimizer.kind, layout.size);

const fmt = (nats: number) => `${nats.toFixed(4)} nats = ${(nats / Math.LN2).toFixed(4)} bits`;
const validate = () => valSet.reduce((s, b) => s + evalLoss(weights, b, hyper), 0) / valSet.length;

console.log(
  `${hyper.model.kind} L${hyper.model.layers} H${hyper.model.heads} C${hyper.model.width} ` +
    `T${T} B${hyper.B}x${hyper.accumSteps}, ${layout.size} params, ${a.corpus}: ` +
    `${data.train.length} train / ${data.val.length} val bytes (${
      valSet.length * hyper.B * T
    } evaluated)`,
);
console.log(`unigram baseline (val): ${fmt(baseline.nats)} per byte`);
console.log(`step 0 val loss: ${fmt(validate())}`);

const enc = new TextEncoder();
const tokensPerStep = hyper.accumSteps * hyper.B * T;
const t0 = performance.now();
let trainLoss = NaN;
for (let step = 0; step < steps; step++) {
  const batch = sampleBatch(data.train, hyper.accumSteps * hyper.B, T, seed, step);
  const r = trainStep(weights, opt, batch, seed + step, hyper);
  weights = r.weights;
  opt = r.optState;
  trainLoss = Number.isNaN(trainLoss) ? r.loss : 0.95 * trainLoss + 0.05 * r.loss;
  const done = step + 1;
  const secs = (performance.now() - t0) / 1000;
  const width = 30;
  const bar = "#".repeat(Math.round((width * done) / steps)).padEnd(width, "-");
  const eta = (secs / done) * (steps - done);
  Deno.stderr.writeSync(enc.encode(
    `\r[${bar}] ${done}/${steps} loss ${trainLoss.toFixed(3)} lr ${r.lr.toExponential(2)} ` +
      `${((done * tokensPerStep) / secs).toFixed(0)} tok/s eta ${eta.toFixed(0)}s `,
  ));
  if (done % num(a["eval-every"]) === 0 || done === steps) {
    Deno.stderr.writeSync(enc.encode("\n"));
    console.log(`step ${done} val loss: ${fmt(validate())} (train ema ${trainLoss.toFixed(4)})`);
  }
}
const secs = (performance.now() - t0) / 1000;
const final = validate();
console.log(
  `final val loss ${fmt(final)} vs unigram ${fmt(baseline.nats)}: ` +
    `${((1 - final / baseline.nats) * 100).toFixed(1)}% below baseline`,
);
console.log(
  `${steps} steps in ${secs.toFixed(1)} s, ${((steps * tokensPerStep) / secs).toFixed(0)} tok/s; ` +
    `weights ${digestWeights(weights)}`,
);
