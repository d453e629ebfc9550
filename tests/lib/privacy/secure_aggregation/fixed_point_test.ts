import assert from "node:assert/strict";
import {
  decodeFixedPoint,
  encodeFixedPoint,
  fixedPointScale,
  OVERFLOW_TAIL_STDS,
} from "../../../../lib/privacy/secure_aggregation/fixed_point.ts";
import { secureGaussian } from "../../../../lib/privacy/secure_aggregation/noise.ts";
import { gaussianDelta } from "../../_helpers.ts";

function ringSum(vectors: Uint32Array[]): Uint32Array {
  const sum = new Uint32Array(vectors[0]!.length);
  for (const v of vectors) for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + v[i]!;
  return sum;
}

Deno.test("scale: largest power of two that keeps n clipped values + noise tail in int32", () => {
  for (const [clip, clients, noise] of [[1, 8, 0], [1, 1000, 0], [0.01, 100, 0.05], [4, 3, 2]]) {
    const scale = fixedPointScale({ clip: clip!, clients: clients!, sumNoiseStd: noise });
    const worst = (clients! * clip! + OVERFLOW_TAIL_STDS * noise!) * scale + clients!;
    assert.ok(Number.isInteger(Math.log2(scale)), "power of two");
    assert.ok(worst < 2 ** 31, `fits: ${worst}`);
    assert.ok(2 * worst - clients! >= 2 ** 31, "next power of two would not fit");
  }
  assert.throws(() => fixedPointScale({ clip: 0, clients: 8 }), RangeError);
  assert.throws(() => fixedPointScale({ clip: 2 ** 30, clients: 8 }), /overflow/);
});

Deno.test("sum of 8 clipped inputs: exact to the scale, within n/(2 scale) of the float sum", () => {
  // Prepare
  const n = 8, clip = 1, L = 4096;
  const scale = fixedPointScale({ clip, clients: n });
  const inputs = Array.from({ length: n }, (_, i) => gaussianDelta(L, i + 1, 0.6));
  // Execute
  const sum = decodeFixedPoint(
    ringSum(inputs.map((x) => encodeFixedPoint(x, { scale, clip }))),
    scale,
  );
  // Assert
  for (let i = 0; i < L; i++) {
    let exact = 0, float = 0;
    for (const x of inputs) {
      const c = Math.max(-clip, Math.min(clip, x[i]!));
      exact += Math.round(c * scale);
      float += c;
    }
    assert.equal(sum[i], exact / scale);
    assert.ok(Math.abs(sum[i]! - float) <= n / (2 * scale));
  }
});

Deno.test("extremes: every client at +clip or -clip sums without wrapping", () => {
  const n = 1000, clip = 0.5;
  const scale = fixedPointScale({ clip, clients: n });
  const plus = encodeFixedPoint(new Float32Array([9, -9, 0.5, -0.5]), { scale, clip });
  const sum = decodeFixedPoint(ringSum(Array(n).fill(plus)), scale);
  assert.deepEqual(Array.from(sum), [500, -500, 500, -500]);
});

Deno.test("noise round-trips: the decoded sum is clipped inputs plus the noise, to the scale", () => {
  // Prepare: noise is added after clipping and is never clipped itself.
  const n = 4, clip = 0.1, L = 2048, std = 0.3;
  const scale = fixedPointScale({ clip, clients: n, sumNoiseStd: std * Math.sqrt(n) });
  const inputs = Array.from({ length: n }, (_, i) => gaussianDelta(L, 40 + i, 0.2));
  const noises = inputs.map(() => secureGaussian(L, std));
  // Execute
  const sum = decodeFixedPoint(
    ringSum(inputs.map((x, k) => encodeFixedPoint(x, { scale, clip, noise: noises[k] }))),
    scale,
  );
  // Assert
  for (let i = 0; i < L; i++) {
    let want = 0;
    inputs.forEach((x, k) => want += Math.max(-clip, Math.min(clip, x[i]!)) + noises[k]![i]!);
    assert.ok(Math.abs(sum[i]! - want) <= n / (2 * scale), `coordinate ${i}`);
  }
});

Deno.test("encode refuses non-finite values and noise of another length", () => {
  assert.throws(
    () => encodeFixedPoint(new Float32Array([NaN]), { scale: 4, clip: 1 }),
    /value 0 is NaN/,
  );
  assert.throws(
    () => encodeFixedPoint(new Float32Array(2), { scale: 4, clip: 1, noise: new Float64Array(3) }),
    RangeError,
  );
});
