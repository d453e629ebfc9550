import assert from "node:assert/strict";
import { loadKernel } from "../../../kernel/wasm_module.ts";

const k = loadKernel();

// The kernel's own exp (softmax, attention, cross-entropy) replaces Mathf.exp so that it can be
// vectorised; its f32x4 form is checked bit for bit against this scalar form through the ops'
// naive twins. Here: accuracy against f64 Math.exp, and the saturation ends.
Deno.test("expScalar: within 3 ulp of exp over the softmax range, 0 below -87, finite above 88", () => {
  let worst = 0;
  for (let i = 0; i <= 20000; i++) {
    const x = Math.fround(-87 + (87 + 20) * (i / 20000));
    const got = k.ops.expScalar(x);
    const want = Math.exp(x);
    const ulp = 2 ** (Math.floor(Math.log2(want)) - 23);
    worst = Math.max(worst, Math.abs(got - want) / ulp);
  }
  assert.ok(worst <= 3, `max error ${worst} ulp`);
  assert.equal(k.ops.expScalar(0), 1);
  assert.equal(k.ops.expScalar(-88), 0);
  assert.equal(k.ops.expScalar(-Infinity), 0);
  assert.ok(Number.isFinite(k.ops.expScalar(1000)));
});
