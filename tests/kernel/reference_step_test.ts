/**
 * Full-step test (llm.c's test_gpt2.c): the kernel's loss and every gradient tensor of one step of
 * tiny GPT and SSM models against the checked-in dump of the independent f64 reference
 * (reference_gpt.ts, written by fixtures/make_reference.ts). Tolerances are f32-level: the kernel
 * sums in f32 and uses a polynomial tanh and exp.
 */
import assert from "node:assert/strict";
import { initOptState } from "../../kernel/optimizer.ts";
import { paramLayout } from "../../kernel/params.ts";
import { createTrainer } from "../../kernel/train_step.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import { decodeGrad, REFERENCE_PATH, type ReferenceCase } from "./fixtures/make_reference.ts";
import { referenceStep, refGradientCheck, refShapes, refWeights } from "./reference_gpt.ts";

const LOSS_TOL = 1e-6; // relative; measured ~1e-8
const GRAD_TOL = 2e-5; // of the tensor's largest |gradient|; measured <= 2e-6
const { trainStep } = createTrainer(loadKernel());
const cases: ReferenceCase[] = JSON.parse(await Deno.readTextFile(REFERENCE_PATH));

for (const c of cases) {
  Deno.test(`${c.name}: kernel loss and every gradient match the f64 reference dump`, () => {
    const layout = paramLayout(c.config);
    const shapes = refShapes(c.config);
    assert.deepEqual(layout.tensors.map((t) => [t.name, t.shape]), shapes, "same tensor layout");
    const w = refWeights(c.config, c.seed);
    const flat = new Float32Array(layout.size);
    for (const t of layout.tensors) flat.set(w[t.name]!, t.offset);
    const { loss, grad } = trainStep(
      flat,
      initOptState("sgd", layout.size),
      { tokens: Int32Array.from(c.tokens), targets: Int32Array.from(c.targets) },
      0,
      {
        model: c.config,
        B: c.B,
        T: c.T,
        accumSteps: 1,
        schedule: { lr: 0, warmupSteps: 0, totalSteps: 1, minLrRatio: 1 },
        optimizer: { kind: "sgd", momentum: 0, weightDecay: 0 },
        gradClip: 0,
      },
    );
    assert.ok(Math.abs(loss - c.loss) <= LOSS_TOL * c.loss, `loss ${loss} vs ${c.loss}`);
    for (const t of layout.tensors) {
      const entry = c.grads[t.name];
      assert.ok(entry, `dump has ${t.name}`);
      const want = decodeGrad(entry);
      const got = grad.subarray(t.offset, t.offset + t.size);
      assert.equal(want.length, got.length, `${t.name} size`);
      let err = 0;
      for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
      assert.ok(
        err <= GRAD_TOL * entry.maxAbs,
        `${t.name}: max error ${err}, max |g| ${entry.maxAbs}`,
      );
    }
  });

  Deno.test(`${c.name}: the reference reproduces its dump and its own finite differences`, () => {
    const w = refWeights(c.config, c.seed);
    const [tokens, targets] = [Int32Array.from(c.tokens), Int32Array.from(c.targets)];
    const { loss, grads } = referenceStep(c.config, w, tokens, targets, c.B, c.T);
    assert.equal(loss, c.loss, "reference changed: rerun fixtures/make_reference.ts");
    for (const [name, g] of Object.entries(grads)) {
      assert.deepEqual(decodeGrad(c.grads[name]!), Float32Array.from(g), name);
    }
    const fd = refGradientCheck(c.config, w, tokens, targets, c.B, c.T);
    assert.ok(fd < 1e-6, `reference vs finite differences: ${fd}`);
  });
}
