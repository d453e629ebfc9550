import assert from "node:assert/strict";
import {
  combineBytes,
  combineShares,
  SHAMIR_PRIME,
  SHARE_BYTES,
  splitBytes,
  splitSecret,
} from "../../../../lib/privacy/secure_aggregation/shamir.ts";

function isProbablePrime(n: bigint): boolean {
  const pow = (b: bigint, e: bigint) => {
    let r = 1n;
    for (b %= n; e > 0n; e >>= 1n, b = (b * b) % n) if (e & 1n) r = (r * b) % n;
    return r;
  };
  let d = n - 1n, s = 0;
  while (!(d & 1n)) [d, s] = [d >> 1n, s + 1];
  return [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n].every((a) => {
    let x = pow(a, d);
    if (x === 1n || x === n - 1n) return true;
    for (let i = 1; i < s; i++) if ((x = (x * x) % n) === n - 1n) return true;
    return false;
  });
}

Deno.test("the field is prime and holds every 32-byte secret", () => {
  assert.ok(isProbablePrime(SHAMIR_PRIME));
  assert.ok(SHAMIR_PRIME > (1n << 256n) - 1n);
  assert.equal(SHARE_BYTES, 33);
});

Deno.test("any t of n shares rebuild a 32-byte secret; extremes included", () => {
  // Prepare
  const secrets = [
    new Uint8Array(32),
    new Uint8Array(32).fill(255),
    crypto.getRandomValues(new Uint8Array(32)),
  ];
  const xs = [3, 7, 8, 12, 20];
  for (const secret of secrets) {
    // Execute
    const shares = splitBytes(secret, { threshold: 3, at: xs });
    // Assert: every 3-subset works, in any order
    for (let a = 0; a < 5; a++) {
      for (let b = a + 1; b < 5; b++) {
        for (let c = b + 1; c < 5; c++) {
          const pick = [c, a, b].map((i) => ({ x: xs[i]!, share: shares[i]! }));
          assert.deepEqual(combineBytes(pick, { threshold: 3 }), secret);
        }
      }
    }
  }
});

Deno.test("t-1 shares rebuild a wrong secret; too few shares is an error, never a guess", () => {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const shares = splitBytes(secret, { threshold: 4, at: [1, 2, 3, 4, 5] });
  const three = [1, 2, 3].map((x) => ({ x, share: shares[x - 1]! }));
  assert.throws(() => combineBytes(three, { threshold: 4 }), RangeError);
  // Interpolating 3 shares as if t were 3 gives garbage (almost surely not even 32 bytes).
  assert.ok(
    (() => {
      try {
        return combineBytes(three, { threshold: 3 }).join() !== secret.join();
      } catch {
        return true;
      }
    })(),
  );
});

Deno.test("t-1 shares are uniform whatever the secret (exhaustive counts on GF(11))", () => {
  // Prepare: t = 3, two shares at x = 1, 2; 121 possible share pairs.
  const prime = 11n, trials = 24_200;
  const counts = (secret: bigint) => {
    const cells = new Array(121).fill(0);
    for (let i = 0; i < trials; i++) {
      const [y1, y2] = splitSecret(secret, { threshold: 3, at: [1, 2, 5], prime });
      cells[Number(y1!) * 11 + Number(y2!)]++;
    }
    return cells as number[];
  };
  // Execute
  for (const secret of [0n, 4n, 10n]) {
    const cells = counts(secret);
    // Assert: chi-square against uniform (120 dof). The shares come from the CSPRNG, so the
    // bound is the 1 - 1e-6 quantile (208.5): a sound split fails it once in a million runs,
    // while a biased one (a fixed or skewed coefficient) lands in the thousands.
    const e = trials / 121;
    const chi2 = cells.reduce((s, c) => s + (c - e) ** 2 / e, 0);
    assert.ok(chi2 < 208.5, `secret ${secret}: chi2 ${chi2.toFixed(1)}`);
    assert.ok(cells.every((c) => c > 0), "every share pair occurs for every secret");
  }
});

Deno.test("t-1 shares of a 256-bit secret: each bit unbiased whatever the secret", () => {
  const bitsSet = (secret: Uint8Array) => {
    let ones = 0, total = 0;
    for (let i = 0; i < 400; i++) {
      const [share] = splitBytes(secret, { threshold: 2, at: [1, 2] });
      for (const byte of share!.subarray(1)) {
        for (let b = 0; b < 8; b++) ones += (byte >> b) & 1;
        total += 8;
      }
    }
    return ones / total;
  };
  for (const secret of [new Uint8Array(32), new Uint8Array(32).fill(255)]) {
    assert.ok(Math.abs(bitsSet(secret) - 0.5) < 0.01);
  }
});

Deno.test("shamir refuses bad arguments", () => {
  assert.throws(() => splitSecret(1n, { threshold: 0, at: [1] }), RangeError);
  assert.throws(() => splitSecret(1n, { threshold: 3, at: [1, 2] }), RangeError);
  assert.throws(() => splitSecret(1n, { threshold: 2, at: [1, 1] }), /repeated/);
  assert.throws(() => splitSecret(1n, { threshold: 1, at: [0] }), /positive/);
  assert.throws(() => splitSecret(SHAMIR_PRIME, { threshold: 1, at: [1] }), /outside the field/);
  assert.throws(() => splitBytes(new Uint8Array(33), { threshold: 1, at: [1] }), RangeError);
  assert.throws(() => combineBytes([{ x: 1, share: new Uint8Array(32) }], { threshold: 1 }), /33/);
  assert.equal(combineShares([{ x: 4, y: 9n }], { threshold: 1 }), 9n);
});
