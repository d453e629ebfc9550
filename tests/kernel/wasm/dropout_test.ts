import assert from "node:assert/strict";
import { loadKernel } from "../../../kernel/wasm_module.ts";
import { gaussians } from "../op_check.ts";

const k = loadKernel();

// Dropout's mask is random, so it does not fit the f64-reference helper; it is checked against
// its definition instead: out = inp * mask, mask in {0, 1/(1-p)}, dinp += dout * mask.
Deno.test("dropout forward/backward: definition, rate, determinism per (seed, stream)", () => {
  const N = 20001;
  const p = 0.25;
  const mark = k.mark();
  const x = Float32Array.from(gaussians(3, N));
  const inp = k.fromF32(x), out = k.alloc(N), mask = k.alloc(N), mask2 = k.alloc(N);
  k.ops.dropoutForward(out, mask, inp, N, p, 7, 1);
  const m = k.f32(mask, N).slice();
  const scale = Math.fround(1 / (1 - p));
  assert.ok(m.every((v) => v === 0 || v === scale));
  const dropped = m.filter((v) => v === 0).length / N;
  assert.ok(Math.abs(dropped - p) < 0.01, `dropped ${dropped}`);
  assert.deepEqual(k.f32(out, N).slice(), x.map((v, i) => v * m[i]!));
  k.ops.dropoutForward(out, mask2, inp, N, p, 7, 1);
  assert.deepEqual(k.f32(mask2, N).slice(), m);
  k.ops.dropoutForward(out, mask2, inp, N, p, 7, 2);
  assert.notDeepEqual(k.f32(mask2, N).slice(), m);
  k.ops.dropoutForward(out, mask2, inp, N, p, 8, 1);
  assert.notDeepEqual(k.f32(mask2, N).slice(), m);
  const g = Float32Array.from(gaussians(4, N));
  const dinp = k.fromF32(new Float32Array(N).fill(1));
  k.ops.dropoutBackward(dinp, k.fromF32(g), mask, N);
  assert.deepEqual(
    k.f32(dinp, N).slice(),
    g.map((v, i) => Math.fround(1 + Math.fround(v * m[i]!))),
  );
  const dnaive = k.fromF32(new Float32Array(N).fill(1));
  k.ops.dropoutBackwardNaive(dnaive, k.fromF32(g), mask, N);
  assert.deepEqual(k.f32(dnaive, N).slice(), k.f32(dinp, N).slice(), "f32x4 == naive");
  k.ops.dropoutForward(out, mask2, inp, N, 0, 7, 1);
  assert.ok(k.f32(mask2, N).every((v) => v === 1));
  k.release(mark);
});
