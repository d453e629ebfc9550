/**
 * Full-step tests: loss at init, gradients of the whole network against directional finite
 * differences of the loss (per tensor, both model kinds, along the gradient and two fixed random
 * directions), purity, gradient accumulation, clipping, that repeated steps fit a batch, and that
 * a trainer keeps one workspace on its kernel.
 */
import assert from "node:assert/strict";
import { encodeText, sampleBatch } from "../../kernel/data.ts";
import { initOptState } from "../../kernel/optimizer.ts";
import { initWeights, type ModelConfig, paramLayout } from "../../kernel/params.ts";
import { createTrainer, type Hyper } from "../../kernel/train_step.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import { gaussians } from "./op_check.ts";

const kernel = loadKernel();
const { trainStep, evalLoss } = createTrainer(kernel);
const TEXT = encodeText(
  "Call me Ishmael. Some years ago, never mind how long precisely. ".repeat(8),
);

function hyper(model: ModelConfig, extra: Partial<Hyper> = {}): Hyper {
  return {
    model,
    B: 2,
    T: 8,
    accumSteps: 1,
    schedule: { lr: 3e-3, warmupSteps: 1, totalSteps: 100, minLrRatio: 0.1 },
    optimizer: { kind: "adamw", beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 },
    gradClip: 0,
    ...extra,
  };
}

const GPT: ModelConfig = { kind: "gpt", maxT: 8, layers: 2, heads: 2, width: 8 };
const SSM: ModelConfig = { kind: "ssm", maxT: 8, layers: 2, heads: 1, width: 8 };

Deno.test("initial loss is close to ln(256) (uniform prediction over bytes)", () => {
  const h = hyper({ kind: "gpt", maxT: 32, layers: 2, heads: 2, width: 32 }, { B: 4, T: 32 });
  const layout = paramLayout(h.model);
  const w = initWeights(kernel, layout, 1);
  const loss = evalLoss(w, sampleBatch(TEXT, 4, 32, 1, 0), h);
  assert.ok(Math.abs(loss - Math.log(256)) < 0.05, `loss ${loss}`);
});

for (const [model, dropout] of [[GPT, 0], [SSM, 0], [GPT, 0.3]] as const) {
  Deno.test(`${model.kind}, dropout ${dropout}: each tensor's gradient matches finite differences`, () => {
    const h = hyper(model, { dropout });
    const SEED = 12345;
    const layout = paramLayout(model);
    // Non-trivial weights: init, then perturb so norms, biases and SSM coefficients are generic.
    const w = initWeights(kernel, layout, 3);
    const noise = gaussians(11, w.length);
    for (let i = 0; i < w.length; i++) w[i] = w[i]! + 0.05 * noise[i]!;
    const batch = sampleBatch(TEXT, 2, 8, 5, 0);
    const { grad } = trainStep(w, initOptState("adamw", w.length), batch, SEED, h);
    const eps = 1e-2;
    /** Central difference of the loss along unit direction `d` of tensor `t`. */
    const slope = (t: { offset: number; size: number }, d: Float64Array) => {
      const shifted = (sign: number) => {
        const x = w.slice();
        for (let i = 0; i < t.size; i++) x[t.offset + i]! += sign * eps * d[i]!;
        return evalLoss(x, batch, h, SEED); // same dropout masks as the step
      };
      return (shifted(1) - shifted(-1)) / (2 * eps);
    };
    layout.tensors.forEach((t, ti) => {
      const g = grad.subarray(t.offset, t.offset + t.size);
      const gnorm = Math.sqrt(g.reduce((s, v) => s + v * v, 0));
      if (gnorm < 1e-6) return; // e.g. position rows beyond T get no gradient
      // Along the tensor's own gradient, normalised, so the signal is |g_t|.
      const fd = slope(t, Float64Array.from(g, (v) => v / gnorm));
      assert.ok(
        Math.abs(fd - gnorm) < 2e-3 * gnorm + 2e-5,
        `${t.name}: finite difference ${fd} vs analytic ${gnorm}`,
      );
      // That direction alone passes a gradient with components dropped (the slope along g' of a
      // loss whose true gradient is g' plus what was dropped is still |g'|). Two fixed
      // pseudo-random unit directions see every component: the slope must be g . d.
      for (const k of [1, 2]) {
        const d = gaussians(1000 * ti + k, t.size);
        const dn = Math.sqrt(d.reduce((s, v) => s + v * v, 0));
        d.forEach((v, i) => (d[i] = v / dn));
        const analytic = g.reduce((s, v, i) => s + v * d[i]!, 0);
        const fdd = slope(t, d);
        assert.ok(
          Math.abs(fdd - analytic) < 2e-3 * gnorm + 2e-5,
          `${t.name}, direction ${k}: finite difference ${fdd} vs analytic ${analytic}`,
        );
      }
    });
  });
}

Deno.test("trainStep is pure: inputs untouched, repeat gives identical output", () => {
  const h = hyper(GPT);
  const layout = paramLayout(GPT);
  const w = initWeights(kernel, layout, 4);
  const opt = initOptState("adamw", w.length);
  const batch = sampleBatch(TEXT, 2, 8, 2, 0);
  const before = [w.slice(), opt.m.slice(), opt.v.slice(), batch.tokens.slice()];
  const a = trainStep(w, opt, batch, 0, h);
  // Interleave a different model in the same kernel: workspaces must not leak into each other.
  trainStep(
    initWeights(kernel, paramLayout(SSM), 1),
    initOptState("adamw", paramLayout(SSM).size),
    batch,
    0,
    hyper(SSM),
  );
  const b = trainStep(w, opt, batch, 0, h);
  assert.deepEqual([w, opt.m, opt.v, batch.tokens], before);
  assert.deepEqual(b, a);
  assert.notDeepEqual(a.weights, w);
  assert.equal(a.optState.step, 1);
});

Deno.test("gradient accumulation over 2 micro-batches equals one batch of twice the size", () => {
  const layout = paramLayout(GPT);
  const w = initWeights(kernel, layout, 5);
  const batch = sampleBatch(TEXT, 4, 8, 3, 0);
  const opt = initOptState("adamw", w.length);
  const one = trainStep(w, opt, batch, 0, hyper(GPT, { B: 4 }));
  const two = trainStep(w, opt, batch, 0, hyper(GPT, { B: 2, accumSteps: 2 }));
  assert.ok(Math.abs(one.loss - two.loss) < 1e-6);
  const scale = Math.max(...one.grad.map(Math.abs));
  one.grad.forEach((g, i) => assert.ok(Math.abs(g - two.grad[i]!) < 1e-5 * scale, `grad ${i}`));
});

Deno.test("global-norm clipping scales the applied update to the clip norm (SGD)", () => {
  const layout = paramLayout(GPT);
  const w = initWeights(kernel, layout, 6);
  const batch = sampleBatch(TEXT, 2, 8, 4, 0);
  const sgd = { kind: "sgd" as const, momentum: 0.9, weightDecay: 0 };
  const h = hyper(GPT, {
    optimizer: sgd,
    gradClip: 0.1,
    schedule: { lr: 1, warmupSteps: 0, totalSteps: 1, minLrRatio: 1 },
  });
  const r = trainStep(w, initOptState("sgd", w.length), batch, 0, h);
  const norm = Math.sqrt(r.grad.reduce((s, g) => s + g * g, 0));
  assert.ok(Math.abs(r.gradNorm - norm) < 1e-6 * norm);
  assert.ok(norm > 0.1, "the test needs a gradient above the clip");
  let delta = 0;
  for (let i = 0; i < w.length; i++) delta += (w[i]! - r.weights[i]!) ** 2;
  assert.ok(Math.abs(Math.sqrt(delta) - 0.1) < 1e-4, `update norm ${Math.sqrt(delta)}`);
});

Deno.test("repeated steps fit a fixed batch (both models, both optimisers)", () => {
  const sgd = { kind: "sgd" as const, momentum: 0.9, weightDecay: 0 };
  for (const [model, opt, lr] of [[GPT, "adamw", 1e-2], [SSM, "sgd", 0.3]] as const) {
    const h = hyper(model, { schedule: { lr, warmupSteps: 0, totalSteps: 30, minLrRatio: 1 } });
    if (opt === "sgd") h.optimizer = sgd;
    const layout = paramLayout(model);
    let w = initWeights(kernel, layout, 8);
    let state = initOptState(opt, w.length);
    const batch = sampleBatch(TEXT, 2, 8, 6, 0);
    const first = evalLoss(w, batch, h);
    for (let s = 0; s < 30; s++) {
      ({ weights: w, optState: state } = trainStep(w, state, batch, s, h));
    }
    const last = evalLoss(w, batch, h);
    assert.ok(last < 0.6 * first, `${model.kind}/${opt}: ${first} -> ${last}`);
  }
});

Deno.test("trainStep rejects malformed inputs", () => {
  const layout = paramLayout(GPT);
  const w = initWeights(kernel, layout, 1);
  const opt = initOptState("adamw", w.length);
  const batch = sampleBatch(TEXT, 2, 8, 1, 0);
  assert.throws(() => trainStep(w.subarray(1), opt, batch, 0, hyper(GPT)), RangeError);
  assert.throws(() => trainStep(w, opt, sampleBatch(TEXT, 1, 8, 1, 0), 0, hyper(GPT)), RangeError);
  assert.throws(() => trainStep(w, initOptState("sgd", w.length), batch, 0, hyper(GPT)), TypeError);
  assert.throws(() => trainStep(w, initOptState("adamw", 5), batch, 0, hyper(GPT)), RangeError);
  const bad = { tokens: batch.tokens.map(() => 300), targets: batch.targets };
  assert.throws(() => trainStep(w, opt, bad, 0, hyper(GPT)), RangeError);
});

Deno.test("dropout: the step seed selects the masks; same seed, same result", () => {
  const h = hyper(GPT, { dropout: 0.2 });
  const layout = paramLayout(GPT);
  const w = initWeights(kernel, layout, 2);
  const opt = initOptState("adamw", w.length);
  const batch = sampleBatch(TEXT, 2, 8, 9, 0);
  const a = trainStep(w, opt, batch, 1, h);
  assert.deepEqual(trainStep(w, opt, batch, 1, h), a);
  assert.notDeepEqual(trainStep(w, opt, batch, 2, h).grad, a.grad);
  const noDrop = trainStep(w, opt, batch, 1, hyper(GPT));
  assert.notDeepEqual(noDrop.grad, a.grad);
  assert.deepEqual(
    trainStep(w, opt, batch, 2, hyper(GPT)),
    noDrop,
    "seed is inert without dropout",
  );
});

Deno.test("createTrainer keeps one workspace: steps of other shapes do not pile up memory", () => {
  const k = loadKernel();
  const t = createTrainer(k);
  const w = initWeights(k, paramLayout(GPT), 1);
  const run = (B: number) => t.evalLoss(w, sampleBatch(TEXT, B, 8, 1, 0), hyper(GPT, { B }));
  const first = run(1);
  const one = k.bytesInUse;
  for (const B of [2, 3, 4, 5, 6]) run(B); // a job owner's few batch sizes
  assert.equal(run(1), first);
  assert.equal(k.bytesInUse, one, "workspaces of earlier shapes are still allocated");
});

Deno.test("createTrainer: a model config with its keys in another order reuses the workspace", () => {
  const k = loadKernel();
  const t = createTrainer(k);
  const w = initWeights(k, paramLayout(GPT), 1);
  const batch = sampleBatch(TEXT, 2, 8, 1, 0);
  const loss = t.evalLoss(w, batch, hyper(GPT));
  let allocs = 0;
  const alloc = k.alloc.bind(k);
  k.alloc = (count: number) => (allocs++, alloc(count));
  const reordered: ModelConfig = { width: 8, heads: 2, layers: 2, maxT: 8, kind: "gpt" };
  assert.equal(t.evalLoss(w, batch, hyper(reordered)), loss);
  assert.equal(allocs, 0, "an equal model config built a second workspace");
});

Deno.test("createTrainer frees a half-built workspace when an allocation fails", () => {
  const k = loadKernel();
  const t = createTrainer(k);
  const w = initWeights(k, paramLayout(GPT), 1);
  const batch = sampleBatch(TEXT, 2, 8, 1, 0);
  const before = k.bytesInUse;
  let left = 5; // the network's first buffers succeed, then memory.grow "fails"
  const alloc = k.alloc.bind(k);
  k.alloc = (count: number) => {
    if (left-- <= 0) throw new RangeError("Cannot allocate: test");
    return alloc(count);
  };
  assert.throws(() => t.evalLoss(w, batch, hyper(GPT)), RangeError);
  assert.equal(k.bytesInUse, before, "the half-built workspace is still allocated");
  k.alloc = alloc;
  const loss = t.evalLoss(w, batch, hyper(GPT));
  assert.equal(loss, evalLoss(w, batch, hyper(GPT)));
});

Deno.test("createTrainer never frees memory allocated on its kernel after its workspace", () => {
  const k = loadKernel();
  const t = createTrainer(k);
  const w = initWeights(k, paramLayout(GPT), 1);
  t.evalLoss(w, sampleBatch(TEXT, 1, 8, 1, 0), hyper(GPT, { B: 1 }));
  const other = k.fromF32(new Float32Array([1, 2, 3, 4])); // another user's buffer, above it
  t.evalLoss(w, sampleBatch(TEXT, 2, 8, 1, 0), hyper(GPT, { B: 2 }));
  assert.ok(k.mark() > other, "the new workspace must be above the other buffer");
  assert.deepEqual([...k.f32(other, 4)], [1, 2, 3, 4]);
});
