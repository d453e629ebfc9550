import assert from "node:assert/strict";
import { Prng } from "../../../lib/crypto/prng.ts";
import {
  addGaussianNoise,
  addLaplaceNoise,
  clipL1,
  clipL2,
  gaussianNoiseStd,
  l2Norm,
  laplaceScale,
} from "../../../lib/privacy/dp.ts";
import {
  AdaptiveClipper,
  adaptiveDeltaNoiseMultiplier,
} from "../../../lib/privacy/adaptive_clip.ts";

function moments(v: Float32Array): { mean: number; std: number } {
  let s = 0;
  for (const x of v) s += x;
  const mean = s / v.length;
  let q = 0;
  for (const x of v) q += (x - mean) ** 2;
  return { mean, std: Math.sqrt(q / (v.length - 1)) };
}

Deno.test("clipL2 bounds the norm and leaves small updates untouched", () => {
  // Prepare
  const big = new Float32Array([3, 4, 0, 12]); // norm 13
  const small = new Float32Array([0.1, -0.2]);
  // Execute
  const a = clipL2(big, 2.6);
  const b = clipL2(small, 2.6);
  // Assert
  assert.equal(a.norm, 13);
  assert.ok(Math.abs(a.scale - 0.2) < 1e-12);
  assert.ok(Math.abs(l2Norm(a.delta) - 2.6) < 1e-6);
  assert.deepEqual(Array.from(a.delta), [3, 4, 0, 12].map((x) => Math.fround(x * 0.2)));
  assert.equal(b.scale, 1);
  assert.deepEqual(b.delta, small);
  assert.notEqual(b.delta, small, "clip returns a copy");
  assert.throws(() => clipL2(big, 0), /Cannot apply DP: clip 0/);
});

Deno.test("clipL1 bounds the L1 norm", () => {
  const r = clipL1(new Float32Array([3, -1]), 2);
  assert.deepEqual(Array.from(r.delta), [1.5, -0.5]);
  assert.equal(r.norm, 4);
});

Deno.test("noise calibration: std = z*C on a sum, z*C/n on a mean", () => {
  assert.equal(gaussianNoiseStd(1.1, 2), 2.2);
  assert.ok(Math.abs(gaussianNoiseStd(1.1, 2, 10) - 0.22) < 1e-15);
  assert.throws(() => gaussianNoiseStd(-1, 1), RangeError);
  assert.equal(laplaceScale(2, 0.5), 4);
});

Deno.test("Gaussian noise has mean ~0 and std ~z*C over many samples", () => {
  // Prepare
  const z = 1.1, clip = 0.5, n = 200_000;
  const std = gaussianNoiseStd(z, clip);
  // Execute
  const v = addGaussianNoise(new Float32Array(n), std, new Prng(2024));
  const m = moments(v);
  // Assert: standard errors are std/sqrt(n) ~ 0.0012 for the mean, ~0.0009 for the std
  assert.ok(Math.abs(m.mean) < 5 * std / Math.sqrt(n), `mean ${m.mean}`);
  assert.ok(Math.abs(m.std - std) < 0.01 * std, `std ${m.std} vs ${std}`);
  // Reproducible: same seed, same noise.
  assert.deepEqual(addGaussianNoise(new Float32Array(8), std, new Prng(2024)), v.slice(0, 8));
});

Deno.test("Laplace noise has mean ~0 and variance 2b^2", () => {
  const b = 0.3, n = 200_000;
  const m = moments(addLaplaceNoise(new Float32Array(n), b, new Prng(9)));
  assert.ok(Math.abs(m.mean) < 5 * Math.SQRT2 * b / Math.sqrt(n), `mean ${m.mean}`);
  assert.ok(Math.abs(m.std - Math.SQRT2 * b) < 0.015 * Math.SQRT2 * b, `std ${m.std}`);
});

Deno.test("adaptive clipping converges to the target quantile of the norms", () => {
  // Prepare: norms uniform on (0, 1); the 0.8-quantile is 0.8.
  const rng = new Prng(3);
  const clipper = new AdaptiveClipper({ initialClip: 0.05, targetQuantile: 0.8 });
  // Execute
  for (let round = 0; round < 300; round++) {
    clipper.update(Array.from({ length: 100 }, () => rng.nextFloat()));
  }
  // Assert
  assert.ok(Math.abs(clipper.clip - 0.8) < 0.08, `clip ${clipper.clip}`);
  assert.ok(adaptiveDeltaNoiseMultiplier(1, 5) > 1);
  assert.throws(() => adaptiveDeltaNoiseMultiplier(1, 0.4), /must exceed z\/2/);
  assert.throws(() => new AdaptiveClipper({ countNoiseStd: 1 }), TypeError);
});
