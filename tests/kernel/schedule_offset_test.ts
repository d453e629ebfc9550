/**
 * Hyper.scheduleOffset: a fresh optimizer state reads the schedule at the offset, so a federated
 * node continues the job's global warmup + cosine; without it nothing changes.
 */
import assert from "node:assert/strict";
import { encodeText, sampleBatch } from "../../kernel/data.ts";
import { initOptState } from "../../kernel/optimizer.ts";
import { initWeights, paramLayout } from "../../kernel/params.ts";
import { learningRate } from "../../kernel/schedule.ts";
import { createTrainer, type Hyper } from "../../kernel/train_step.ts";
import { createOffloadStep } from "../../kernel/offload.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";

const kernel = loadKernel();
const { trainStep } = createTrainer(kernel);
const TEXT = encodeText("It was the best of times, it was the worst of times. ".repeat(8));
const HYPER: Hyper = {
  model: { kind: "gpt", maxT: 8, layers: 1, heads: 2, width: 8 },
  B: 2,
  T: 8,
  accumSteps: 1,
  schedule: { lr: 3e-3, warmupSteps: 4, totalSteps: 40, minLrRatio: 0.1 },
  optimizer: { kind: "adamw", beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.01 },
  gradClip: 1,
};

/** Two steps from a fresh state; the lr and weights after each. */
function twoSteps(hyper: Hyper) {
  const w0 = initWeights(kernel, paramLayout(hyper.model), 3);
  let state = initOptState("adamw", w0.length);
  let weights = w0;
  const out = [];
  for (let s = 0; s < 2; s++) {
    const r = trainStep(weights, state, sampleBatch(TEXT, 2, 8, 5, s), 5, hyper);
    weights = r.weights;
    state = r.optState;
    out.push({ lr: r.lr, weights, step: state.step });
  }
  return out;
}

Deno.test("scheduleOffset: the lr is read at offset + state step; AdamW's own count is kept", () => {
  const shifted = twoSteps({ ...HYPER, scheduleOffset: 20 });
  assert.deepEqual(shifted.map((s) => s.lr), [20, 21].map((k) => learningRate(k, HYPER.schedule)));
  assert.deepEqual(shifted.map((s) => s.step), [1, 2], "bias correction still counts from 1");
  // The same steps with each step's lr pinned by a constant schedule: identical bits.
  const pinned = [20, 21].map((k) => ({
    ...HYPER,
    schedule: { lr: learningRate(k, HYPER.schedule), warmupSteps: 0, totalSteps: 1, minLrRatio: 1 },
  }));
  const w0 = initWeights(kernel, paramLayout(HYPER.model), 3);
  const a = trainStep(
    w0,
    initOptState("adamw", w0.length),
    sampleBatch(TEXT, 2, 8, 5, 0),
    5,
    pinned[0]!,
  );
  const b = trainStep(a.weights, a.optState, sampleBatch(TEXT, 2, 8, 5, 1), 5, pinned[1]!);
  assert.deepEqual(b.weights, shifted[1]!.weights);
});

Deno.test("scheduleOffset: 0 and absent give the same bits", () => {
  const absent = twoSteps(HYPER), zero = twoSteps({ ...HYPER, scheduleOffset: 0 });
  assert.deepEqual(absent, zero);
  assert.equal(absent[0]!.lr, learningRate(0, HYPER.schedule));
});

Deno.test("scheduleOffset: the offload step reads the schedule at the same place", () => {
  const hyper = { ...HYPER, scheduleOffset: 20 };
  const w0 = initWeights(kernel, paramLayout(hyper.model), 3);
  const batch = sampleBatch(TEXT, 2, 8, 5, 0);
  const resident = trainStep(w0, initOptState("adamw", w0.length), batch, 5, hyper);
  const offloaded = createOffloadStep(kernel).trainStep(
    w0,
    initOptState("adamw", w0.length),
    batch,
    5,
    hyper,
  );
  assert.equal(offloaded.lr, resident.lr);
  assert.deepEqual(offloaded.weights, resident.weights);
});
