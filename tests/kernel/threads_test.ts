/**
 * The step on several threads gives the bytes of the step on one: loss, gradient, norm, updated
 * weights and optimiser state of two consecutive steps, for 1, 2 and 3 threads (more threads
 * than this machine's cores included), against the single-thread kernel.wasm.
 */
import assert from "node:assert/strict";
import { encodeText, sampleBatch } from "../../kernel/data.ts";
import { initOptState } from "../../kernel/optimizer.ts";
import { initWeights, paramLayout } from "../../kernel/params.ts";
import { loadThreadedKernel } from "../../kernel/threads.ts";
import { createTrainer, type Hyper, type StepResult } from "../../kernel/train_step.ts";
import { type Kernel, loadKernel } from "../../kernel/wasm_module.ts";
import { CASES } from "./determinism_case.ts";

const TEXT = encodeText(
  "Whan that Aprille with his shoures soote the droghte of March. ".repeat(9),
);

const ALL: { name: string; hyper: Hyper }[] = [
  ...CASES,
  {
    // Ragged everywhere: 3 heads of 12, T below maxT, rows that do not divide into tiles.
    name: "gpt-ragged",
    hyper: {
      model: { kind: "gpt", maxT: 16, layers: 2, heads: 3, width: 36 },
      B: 3,
      T: 13,
      accumSteps: 2,
      schedule: { lr: 1e-2, warmupSteps: 1, totalSteps: 10, minLrRatio: 0.1 },
      optimizer: { kind: "adamw", beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 },
      gradClip: 0.5,
      dropout: 0.1,
    },
  },
];

function bytes(r: StepResult): Uint8Array[] {
  const f = (x: Float32Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const scalars = new Float64Array([r.loss, r.gradNorm, r.lr, r.optState.step]);
  return [
    new Uint8Array(scalars.buffer),
    f(r.grad),
    f(r.weights),
    f(r.optState.m),
    f(r.optState.v),
  ];
}

/** Two consecutive steps of every case; the byte images of each step's result. */
function run(kernel: Kernel): Uint8Array[][] {
  const { trainStep } = createTrainer(kernel);
  return ALL.flatMap(({ hyper: h }) => {
    const layout = paramLayout(h.model);
    let weights = initWeights(loadKernel(), layout, 7);
    let opt = initOptState(h.optimizer.kind, layout.size);
    const out: Uint8Array[][] = [];
    for (let step = 0; step < 2; step++) {
      const batch = sampleBatch(TEXT, h.accumSteps * h.B, h.T, 5, step);
      const r = trainStep(weights, opt, batch, 31 + step, h);
      out.push(bytes(r));
      ({ weights, optState: opt } = r);
    }
    return out;
  });
}

const reference = run(loadKernel());

for (const threads of [1, 2, 3]) {
  Deno.test(`${threads} threads, every op split: same bytes as one thread`, async () => {
    const kernel = await loadThreadedKernel({ threads, minWork: 0 });
    try {
      assert.equal(kernel.threads, threads);
      assert.deepEqual(run(kernel), reference);
      assert.deepEqual(run(kernel), reference, "second run on the same workspaces");
    } finally {
      kernel.close();
    }
  });
}

Deno.test("2 threads at the default split threshold on a wider model: same bytes", async () => {
  const h: Hyper = {
    model: { kind: "gpt", maxT: 32, layers: 2, heads: 4, width: 64 },
    B: 4,
    T: 32,
    accumSteps: 1,
    schedule: { lr: 1e-3, warmupSteps: 1, totalSteps: 10, minLrRatio: 0.1 },
    optimizer: { kind: "adamw", beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 },
    gradClip: 1,
  };
  const layout = paramLayout(h.model);
  const w = initWeights(loadKernel(), layout, 3);
  const batch = sampleBatch(TEXT, h.B, h.T, 2, 0);
  const step = (k: Kernel) =>
    bytes(createTrainer(k).trainStep(w, initOptState("adamw", layout.size), batch, 1, h));
  const kernel = await loadThreadedKernel({ threads: 2 });
  try {
    assert.deepEqual(step(kernel), step(loadKernel()));
  } finally {
    kernel.close();
  }
});

Deno.test("loadThreadedKernel rejects a bad thread count", async () => {
  await assert.rejects(() => loadThreadedKernel({ threads: 0 }), RangeError);
  await assert.rejects(() => loadThreadedKernel({ threads: 1.5 }), RangeError);
});
