import assert from "node:assert/strict";
import {
  clientNoiseStd,
  secureGaussian,
  survivingNoiseStd,
} from "../../../../lib/privacy/secure_aggregation/noise.ts";

Deno.test("secure Gaussian: mean 0, std sigma, normal mass within 1 and 2 sigma, kurtosis 3", () => {
  // Prepare
  const n = 400_000, std = 1.7;
  // Execute
  const z = secureGaussian(n, std);
  // Assert
  let s = 0, q = 0, k = 0, in1 = 0, in2 = 0;
  for (const x of z) {
    s += x;
    q += x * x;
    k += x ** 4;
    if (Math.abs(x) < std) in1++;
    if (Math.abs(x) < 2 * std) in2++;
  }
  const variance = q / n;
  assert.ok(Math.abs(s / n) < 5 * std / Math.sqrt(n));
  assert.ok(Math.abs(Math.sqrt(variance) / std - 1) < 0.005);
  assert.ok(Math.abs(in1 / n - 0.6827) < 0.004);
  assert.ok(Math.abs(in2 / n - 0.9545) < 0.002);
  assert.ok(Math.abs(k / n / variance ** 2 - 3) < 0.05);
});

Deno.test("secure Gaussian: two draws differ (no seed anywhere), odd lengths filled", () => {
  const a = secureGaussian(33_333, 1);
  const b = secureGaussian(33_333, 1);
  assert.notDeepEqual(a, b);
  assert.ok(a[a.length - 1] !== 0 && Number.isFinite(a[a.length - 1]));
  assert.equal(secureGaussian(0, 1).length, 0);
  assert.throws(() => secureGaussian(3, -1), RangeError);
});

Deno.test("accounting: each client adds sigma^2/(t-1), any s >= t survivors leave > sigma^2", () => {
  const sigma = 2, t = 6;
  assert.ok(Math.abs(clientNoiseStd(sigma, t) ** 2 * (t - 1) - sigma ** 2) < 1e-12);
  for (let s = t; s <= 10; s++) {
    const total = survivingNoiseStd(sigma, { minSurvivors: t, survivors: s });
    assert.ok(Math.abs(total ** 2 - (s * sigma ** 2) / (t - 1)) < 1e-12);
    assert.ok(total >= sigma);
  }
  assert.equal(clientNoiseStd(0, 1), 0);
  assert.throws(() => clientNoiseStd(1, 1), /minSurvivors < 2/);
});

Deno.test(
  "attacker: a survivor that subtracts its own share from a sum of exactly t still faces sigma",
  () => {
    // Found in the privacy audit: each client added sigma^2 / t, so in a sum of the fewest
    // survivors the protocol releases (t), one of them, knowing its own noise, was left
    // sigma sqrt((t - 1) / t) against the others' data while the accountant charged sigma.
    // Prepare: the noise of the t - 1 other survivors, drawn as clients draw it.
    const sigma = 1, n = 200_000;
    for (const t of [2, 3, 5]) {
      const others = Array.from(
        { length: t - 1 },
        () => secureGaussian(n, clientNoiseStd(sigma, t)),
      );
      // Execute: what the sum holds once the attacker took its own share out.
      let q = 0;
      for (let i = 0; i < n; i++) {
        let x = 0;
        for (const o of others) x += o[i]!;
        q += x * x;
      }
      // Assert: at least the charged sigma (5 standard errors of slack on the estimate).
      assert.ok(Math.sqrt(q / n) > sigma * (1 - 5 / Math.sqrt(2 * n)), `t = ${t}`);
    }
  },
);
