/**
 * The noise check from the validator's side: honest noise passes; a coordinator that adds none,
 * half of it, noise regenerated from a public seed, or shifts the aggregate is caught.
 */
import assert from "node:assert/strict";
import { Prng } from "../../../lib/crypto/prng.ts";
import { checkNoise, meanNoiseStd } from "../../../lib/verify/noise_check.ts";

const D = 20_000;
const SIGMA = meanNoiseStd(1 * 0.05, 4); // z x clip over 4 updates

/** A clean mean (what validators recompute) and Gaussian noise of std `std` from `rng`. */
function round(rng: Prng, std: number) {
  const clean = Float64Array.from({ length: D }, () => 0.01 * rng.nextGaussian());
  const noise = Float64Array.from({ length: D }, () => std * rng.nextGaussian());
  return { clean, noise, released: clean.map((c, i) => c + noise[i]!) };
}

/** The noise anyone can regenerate: the generator seeded from the public spec seed and round. */
function publicNoise(seed: number, std: number): Float64Array {
  const rng = new Prng(seed);
  return Float64Array.from({ length: D }, () => std * rng.nextGaussian());
}

Deno.test("honest noise passes, from many independent draws", () => {
  const rng = new Prng(1); // a stand-in for the secret stream: independent of the public seed
  for (let i = 0; i < 20; i++) {
    const { clean, released } = round(rng, SIGMA);
    const r = checkNoise(released, clean, SIGMA, { predictable: [publicNoise(1337, SIGMA)] });
    assert.ok(r.ok, `draw ${i}: ${r.failed.join(", ")} ${JSON.stringify(r.chiSquare)}`);
  }
});

Deno.test("no noise, half the noise and noise on half the coordinates fail the scale test", () => {
  const rng = new Prng(2);
  const none = round(rng, 0);
  assert.deepEqual(checkNoise(none.released, none.clean, SIGMA).failed, ["scale"]);
  const half = round(rng, SIGMA / 2);
  assert.deepEqual(checkNoise(half.released, half.clean, SIGMA).failed, ["scale"]);
  const part = round(rng, SIGMA);
  const partial = part.released.map((x, i) => i % 2 === 0 ? part.clean[i]! : x);
  assert.deepEqual(checkNoise(partial, part.clean, SIGMA).failed, ["scale"]);
});

Deno.test("noise regenerated from the public seed fails the independence test", () => {
  const clean = round(new Prng(3), 0).clean;
  const reused = publicNoise(1337 ^ 0, SIGMA); // the old (spec.seed ^ round) generator
  const released = clean.map((c, i) => c + reused[i]!);
  const r = checkNoise(released, clean, SIGMA, { predictable: [reused] });
  assert.deepEqual(r.failed, ["predictable"]);
  // Without knowing which public vector was reused, its law alone looks honest.
  assert.ok(checkNoise(released, clean, SIGMA).ok);
});

Deno.test("a shifted aggregate fails: a large shift the scale test, a small one the location", () => {
  const rng = new Prng(4);
  const big = round(rng, SIGMA);
  const other = Float64Array.from({ length: D }, () => 0.5 * SIGMA * rng.nextGaussian());
  const swapped = big.released.map((x, i) => x + other[i]!); // another update slipped in
  assert.ok(checkNoise(swapped, big.clean, SIGMA).failed.includes("scale"));
  const small = round(rng, SIGMA);
  const shifted = small.released.map((x) => x + 0.1 * SIGMA);
  assert.deepEqual(checkNoise(shifted, small.clean, SIGMA).failed, ["location"]);
});

Deno.test("bad arguments are refused", () => {
  const v = new Float64Array(4);
  assert.throws(() => checkNoise(v, new Float64Array(3), 1), RangeError);
  assert.throws(() => checkNoise(v, v, 0), RangeError);
  assert.throws(() => checkNoise(v, v, 1, { falseAlarm: 0 }), RangeError);
  assert.throws(() => meanNoiseStd(0, 4), RangeError);
});
