import assert from "node:assert/strict";
import { loadKernel } from "../../../kernel/wasm_module.ts";
import { gaussians } from "../op_check.ts";

const k = loadKernel();
const f = Math.fround;

for (const naive of [false, true]) {
  Deno.test(`adamwUpdate${naive ? "Naive" : ""} matches an f32 step-by-step TS reference`, () => {
    const n = 13; // three f32x4 steps and a scalar tail
    const mark = k.mark();
    const p0 = Float32Array.from(gaussians(1, n)), g = Float32Array.from(gaussians(2, n));
    const m0 = Float32Array.from(gaussians(3, n), (x) => x * 0.1);
    const v0 = Float32Array.from(gaussians(4, n), (x) => x * x * 0.01);
    const [pp, pg, pm, pv] = [p0, g, m0, v0].map((a) => k.fromF32(a));
    const [lr, b1, b2, eps, wd, bc1, bc2] = [1e-2, 0.9, 0.95, 1e-8, 0.1, 0.19, 0.0975].map(f);
    const update = naive ? k.ops.adamwUpdateNaive : k.ops.adamwUpdate;
    update(pp!, pg!, pm!, pv!, n, lr!, b1!, b2!, eps!, wd!, bc1!, bc2!);
    for (let i = 0; i < n; i++) {
      const m = f(f(b1! * m0[i]!) + f(f(1 - b1!) * g[i]!));
      const v = f(f(b2! * v0[i]!) + f(f(f(1 - b2!) * g[i]!) * g[i]!));
      const upd = f(f(f(m / bc1!) / f(f(Math.sqrt(f(v / bc2!))) + eps!)) + f(wd! * p0[i]!));
      assert.equal(k.f32(pp!, n)[i], f(p0[i]! - f(lr! * upd)), `param ${i}`);
      assert.equal(k.f32(pm!, n)[i], m);
      assert.equal(k.f32(pv!, n)[i], v);
    }
    k.release(mark);
  });
}

for (const naive of [false, true]) {
  Deno.test(`sgdMomentumUpdate${naive ? "Naive" : ""} matches an f32 TypeScript reference`, () => {
    const n = 9;
    const mark = k.mark();
    const p0 = Float32Array.from(gaussians(5, n)), g = Float32Array.from(gaussians(6, n));
    const b0 = Float32Array.from(gaussians(7, n));
    const [pp, pg, pb] = [p0, g, b0].map((a) => k.fromF32(a));
    const [lr, mu, wd] = [0.05, 0.9, 0.01].map(f);
    (naive ? k.ops.sgdMomentumUpdateNaive : k.ops.sgdMomentumUpdate)(
      pp!,
      pg!,
      pb!,
      n,
      lr!,
      mu!,
      wd!,
    );
    for (let i = 0; i < n; i++) {
      const b = f(f(mu! * b0[i]!) + f(g[i]! + f(wd! * p0[i]!)));
      assert.equal(k.f32(pb!, n)[i], b);
      assert.equal(k.f32(pp!, n)[i], f(p0[i]! - f(lr! * b)));
    }
    k.release(mark);
  });
}

Deno.test("initNormal: reproducible, stream-separated, N(0, std^2) in distribution", () => {
  const n = 20001; // odd: the last Box-Muller pair is half used
  const mark = k.mark();
  const a = k.alloc(n), b = k.alloc(n), c = k.alloc(n);
  k.ops.initNormal(a, n, 42, 3, 0.5);
  k.ops.initNormal(b, n, 42, 3, 0.5);
  k.ops.initNormal(c, n, 42, 4, 0.5);
  const x = k.f32(a, n).slice();
  assert.deepEqual(k.f32(b, n).slice(), x);
  assert.notDeepEqual(k.f32(c, n).slice(), x);
  const mean = x.reduce((s, v) => s + v, 0) / n;
  const sd = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
  assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
  assert.ok(Math.abs(sd - 0.5) < 0.01, `sd ${sd}`);
  assert.ok(x.every(Number.isFinite));
  k.release(mark);
});

Deno.test("sumSquares, sumF64 and scaleInPlace", () => {
  const mark = k.mark();
  const v = Float32Array.from([3, -4, 0.5, 1e-3]);
  const p = k.fromF32(v);
  assert.equal(k.ops.sumSquares(p, 4), 9 + 16 + 0.25 + f(1e-3) ** 2);
  assert.equal(k.ops.sumF64(p, 4), 3 - 4 + 0.5 + f(1e-3));
  k.ops.scaleInPlace(p, 4, 2);
  assert.deepEqual(k.f32(p, 4).slice(), Float32Array.from([6, -8, 1, f(2e-3)]));
  const q = k.fromF32(Float32Array.from(gaussians(8, 11)));
  const q2 = k.fromF32(k.f32(q, 11).slice());
  k.ops.scaleInPlace(q, 11, f(0.3));
  k.ops.scaleInPlaceNaive(q2, 11, f(0.3));
  assert.deepEqual(k.f32(q, 11).slice(), k.f32(q2, 11).slice());
  k.release(mark);
});
