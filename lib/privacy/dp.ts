/**
 * Differential-privacy primitives for federated updates: per-client L2 (or L1) clipping and
 * calibrated Gaussian / Laplace noise from a seeded {@link Prng}.
 *
 * Calibration (DP-FedAvg, McMahan et al. 2018): each client's delta is clipped to L2 norm
 * `C`, so adding or removing one client moves the *sum* by at most `C`; Gaussian noise of
 * std `z * C` on the sum (or `z * C / n` on the mean of `n` clients) gives the Gaussian
 * mechanism with noise multiplier `z`, whose privacy over rounds the RDP accountant tracks.
 * The noise is zero-mean and symmetric: the design doc's `rng.gen() * scale` (uniform in
 * [0, scale)) is biased and gives no DP guarantee, so it is not used anywhere.
 *
 * @module
 */
import type { Prng } from "../crypto/prng.ts";

/**
 * Euclidean norm, accumulated in double precision.
 *
 * @example
 * ```ts
 * import { l2Norm } from "./dp.ts";
 * console.assert(l2Norm(new Float32Array([3, 4])) === 5);
 * ```
 */
export function l2Norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/** A clipped copy and what clipping did. */
export interface ClipResult {
  /** The clipped delta (a new array). */
  delta: Float32Array;
  /** Norm before clipping. */
  norm: number;
  /** Factor applied: `min(1, bound / norm)`. */
  scale: number;
}

/**
 * Scales `delta` so its L2 norm is at most `bound` (a new array; unchanged if already inside).
 *
 * @throws {RangeError} when `bound` is not positive and finite
 * @example
 * ```ts
 * import { clipL2, l2Norm } from "./dp.ts";
 * const { delta, norm } = clipL2(new Float32Array([3, 4]), 1);
 * console.assert(norm === 5 && Math.abs(l2Norm(delta) - 1) < 1e-6);
 * ```
 */
export function clipL2(delta: Float32Array, bound: number): ClipResult {
  checkPositive("clip", bound);
  const norm = l2Norm(delta);
  return scaleBy(delta, norm, norm > bound ? bound / norm : 1);
}

/**
 * Scales `delta` so its L1 norm is at most `bound` (the sensitivity the Laplace mechanism
 * needs).
 *
 * @example
 * ```ts
 * import { clipL1 } from "./dp.ts";
 * console.assert(clipL1(new Float32Array([3, -1]), 2).delta[0] === 1.5);
 * ```
 */
export function clipL1(delta: Float32Array, bound: number): ClipResult {
  checkPositive("clip", bound);
  let norm = 0;
  for (let i = 0; i < delta.length; i++) norm += Math.abs(delta[i]!);
  return scaleBy(delta, norm, norm > bound ? bound / norm : 1);
}

/**
 * Std of the Gaussian noise for noise multiplier `z` and clip `C`: `z * C` on a sum, or
 * `z * C / clients` on a mean over a fixed number of clients.
 *
 * @example
 * ```ts
 * import { gaussianNoiseStd } from "./dp.ts";
 * console.assert(gaussianNoiseStd(1, 2) === 2 && gaussianNoiseStd(1, 2, 4) === 0.5);
 * ```
 */
export function gaussianNoiseStd(noiseMultiplier: number, clip: number, clients = 1): number {
  if (!(noiseMultiplier >= 0) || !Number.isFinite(noiseMultiplier)) {
    throw new RangeError(`Cannot calibrate noise: multiplier ${noiseMultiplier} is not >= 0`);
  }
  checkPositive("clip", clip);
  if (!Number.isInteger(clients) || clients < 1) {
    throw new RangeError(`Cannot calibrate noise: clients ${clients} is not a positive integer`);
  }
  return (noiseMultiplier * clip) / clients;
}

/**
 * Laplace scale `b = sensitivityL1 / epsilon` for a pure epsilon-DP release.
 *
 * @example
 * ```ts
 * import { laplaceScale } from "./dp.ts";
 * console.assert(laplaceScale(1, 0.5) === 2);
 * ```
 */
export function laplaceScale(sensitivityL1: number, epsilon: number): number {
  checkPositive("sensitivity", sensitivityL1);
  checkPositive("epsilon", epsilon);
  return sensitivityL1 / epsilon;
}

/**
 * Adds i.i.d. N(0, std^2) to every value, in place; returns `values`.
 *
 * @example
 * ```ts
 * import { addGaussianNoise } from "./dp.ts";
 * import { Prng } from "../crypto/prng.ts";
 * const v = addGaussianNoise(new Float32Array(4), 0.1, new Prng(1));
 * console.assert(v.some((x) => x !== 0));
 * ```
 */
export function addGaussianNoise(values: Float32Array, std: number, rng: Prng): Float32Array {
  if (!(std >= 0) || !Number.isFinite(std)) {
    throw new RangeError(`Cannot add noise: std ${std} is not finite and >= 0`);
  }
  if (std === 0) return values;
  for (let i = 0; i < values.length; i++) values[i]! += std * rng.nextGaussian();
  return values;
}

/**
 * Adds i.i.d. Laplace(0, scale) to every value, in place; returns `values`.
 *
 * @example
 * ```ts
 * import { addLaplaceNoise } from "./dp.ts";
 * import { Prng } from "../crypto/prng.ts";
 * console.assert(addLaplaceNoise(new Float32Array(2), 1, new Prng(1)).length === 2);
 * ```
 */
export function addLaplaceNoise(values: Float32Array, scale: number, rng: Prng): Float32Array {
  if (!(scale >= 0) || !Number.isFinite(scale)) {
    throw new RangeError(`Cannot add noise: Laplace scale ${scale} is not finite and >= 0`);
  }
  if (scale === 0) return values;
  for (let i = 0; i < values.length; i++) values[i]! += rng.nextLaplace(scale);
  return values;
}

function scaleBy(delta: Float32Array, norm: number, scale: number): ClipResult {
  const out = new Float32Array(delta);
  if (scale !== 1) { for (let i = 0; i < out.length; i++) out[i]! *= scale; }
  return { delta: out, norm, scale };
}

function checkPositive(what: string, x: number): void {
  if (!(x > 0) || !Number.isFinite(x)) {
    throw new RangeError(`Cannot apply DP: ${what} ${x} is not positive and finite`);
  }
}
