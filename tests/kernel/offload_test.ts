/**
 * Memory-saving steps give the bytes of the plain step: activation recomputation (resident
 * trainer) and the offload trainer (state outside linear memory, layers streamed through a
 * window, norm and update in chunks), on one and two threads, over two consecutive steps.
 */
import assert from "node:assert/strict";
import { encodeText, sampleBatch } from "../../kernel/data.ts";
import { createOffloadStep, createOffloadTrainer } from "../../kernel/offload.ts";
import { initOptState } from "../../kernel/optimizer.ts";
import { initWeights, paramLayout } from "../../kernel/params.ts";
import { loadThreadedKernel } from "../../kernel/threads.ts";
import { createTrainer, type Hyper, type StepResult } from "../../kernel/train_step.ts";
import { type Kernel, loadKernel } from "../../kernel/wasm_module.ts";
import { CASES } from "./determinism_case.ts";

const TEXT = encodeText(
  "So we beat on, boats against the current, borne back ceaselessly. ".repeat(9),
);
const ALL: { name: string; hyper: Hyper }[] = [
  ...CASES,
  {
    name: "gpt-3-layers-clip-off",
    hyper: {
      model: { kind: "gpt", maxT: 16, layers: 3, heads: 3, width: 24 },
      B: 3,
      T: 11,
      accumSteps: 3,
      schedule: { lr: 1e-2, warmupSteps: 1, totalSteps: 10, minLrRatio: 0.1 },
      optimizer: { kind: "adamw", beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 },
      gradClip: 0,
      dropout: 0.2,
    },
  },
];

type Run = { loss: number; gradNorm: number; lr: number; state: Float32Array[] };

const batchOf = (h: Hyper, step: number) => sampleBatch(TEXT, h.accumSteps * h.B, h.T, 3, step);

/** Two steps with the resident trainer (optionally recomputing activations). */
function resident(kernel: Kernel, h: Hyper, recompute: boolean): Run[] {
  const { trainStep } = createTrainer(kernel, { recompute });
  const layout = paramLayout(h.model);
  let w = initWeights(loadKernel(), layout, 9);
  let opt = initOptState(h.optimizer.kind, layout.size);
  return [0, 1].map((s) => {
    const r: StepResult = trainStep(w, opt, batchOf(h, s), 40 + s, h);
    ({ weights: w, optState: opt } = r);
    const state = [r.grad, r.weights, r.optState.m, r.optState.v];
    return { loss: r.loss, gradNorm: r.gradNorm, lr: r.lr, state };
  });
}

/** The same two steps with the offload trainer, small chunks so tensors span several. */
function offloaded(kernel: Kernel, h: Hyper, recompute: boolean): Run[] {
  const layout = paramLayout(h.model);
  const t = createOffloadTrainer(
    kernel,
    h,
    initWeights(loadKernel(), layout, 9),
    initOptState(h.optimizer.kind, layout.size),
    { recompute, chunk: 100 },
  );
  return [0, 1].map((s) => {
    const r = t.step(batchOf(h, s), 40 + s);
    const state = [t.grad, t.weights, t.optState.m, t.optState.v].map((a) => a.slice());
    return { ...r, state };
  });
}

for (const { name, hyper } of ALL) {
  Deno.test(`${name}: recomputation and offload give the plain step's bytes`, () => {
    const want = resident(loadKernel(), hyper, false);
    assert.deepEqual(resident(loadKernel(), hyper, true), want, "resident, recompute");
    assert.deepEqual(offloaded(loadKernel(), hyper, true), want, "offload, recompute");
    assert.deepEqual(offloaded(loadKernel(), hyper, false), want, "offload, all activations");
  });
}

Deno.test("offload on 2 threads, every op split: the plain step's bytes", async () => {
  const kernel = await loadThreadedKernel({ threads: 2, minWork: 0 });
  try {
    for (const { hyper } of ALL) {
      assert.deepEqual(offloaded(kernel, hyper, true), resident(loadKernel(), hyper, false));
    }
  } finally {
    kernel.close();
  }
});

Deno.test("recomputation keeps one layer of activations instead of all", () => {
  const hyper = ALL[2]!.hyper;
  const plain = loadKernel(), saving = loadKernel();
  resident(plain, hyper, false);
  resident(saving, hyper, true);
  assert.ok(saving.bytesInUse < plain.bytesInUse, `${saving.bytesInUse} vs ${plain.bytesInUse}`);
});

Deno.test("createOffloadTrainer rejects state that does not match the model", () => {
  const h = ALL[0]!.hyper;
  const n = paramLayout(h.model).size;
  const k = loadKernel();
  assert.throws(
    () => createOffloadTrainer(k, h, new Float32Array(n - 1), initOptState("adamw", n)),
    RangeError,
  );
  assert.throws(
    () => createOffloadTrainer(k, h, new Float32Array(n), initOptState("sgd", n)),
    TypeError,
  );
  assert.throws(
    () => createOffloadTrainer(k, h, new Float32Array(n), initOptState("adamw", 3)),
    RangeError,
  );
});

Deno.test("planStepMemory gives the bytes the trainers allocate", async () => {
  const { planStepMemory } = await import("../../kernel/memory_plan.ts");
  for (const { hyper } of ALL) {
    const layout = paramLayout(hyper.model);
    const k = loadKernel();
    const w = initWeights(k, layout, 1);
    const mark = k.mark();
    createOffloadTrainer(k, hyper, w, initOptState(hyper.optimizer.kind, layout.size), {
      chunk: 1000,
    });
    const offload = planStepMemory(hyper, { offload: true, chunk: 1000 });
    assert.equal(offload.linearBytes, k.mark() - mark, "offload");
    const k2 = loadKernel();
    const mark2 = k2.mark();
    createTrainer(k2, { recompute: true }).trainStep(
      w,
      initOptState(hyper.optimizer.kind, layout.size),
      batchOf(hyper, 0),
      1,
      hyper,
    );
    assert.equal(planStepMemory(hyper, { recompute: true }).linearBytes, k2.mark() - mark2);
  }
});

Deno.test("createOffloadStep: the plain trainStep's bytes and evalLoss, inputs untouched", () => {
  // Prepare
  const h = ALL[ALL.length - 1]!.hyper;
  const layout = paramLayout(h.model);
  const w = initWeights(loadKernel(), layout, 9);
  const opt = initOptState(h.optimizer.kind, layout.size);
  const kernel = loadKernel();
  const mark = kernel.mark();
  const plain = createTrainer(loadKernel());
  // Execute
  const offload = createOffloadStep(kernel);
  const r = offload.trainStep(w, opt, batchOf(h, 0), 40, h);
  const again = offload.trainStep(r.weights, r.optState, batchOf(h, 1), 41, h);
  // Assert
  const want = plain.trainStep(w, opt, batchOf(h, 0), 40, h);
  const want2 = plain.trainStep(want.weights, want.optState, batchOf(h, 1), 41, h);
  assert.deepEqual([again.weights, again.grad, again.optState], [
    want2.weights,
    want2.grad,
    want2.optState,
  ]);
  assert.equal(again.loss, want2.loss);
  assert.deepEqual(w, initWeights(loadKernel(), layout, 9), "the weights passed in are untouched");
  assert.equal(opt.step, 0);
  assert.notEqual(r.weights, w);
  assert.equal(kernel.mark(), mark, "the workspace is freed after each step");
  const batch = batchOf(h, 2);
  assert.equal(offload.evalLoss(w, batch, h), plain.evalLoss(w, batch, h));
  assert.equal(offload.evalLoss(w, batch, h, 7), plain.evalLoss(w, batch, h, 7));
});
