/**
 * Adaptive clipping (Andrew, Thakkar, McMahan & Ramaswamy 2021, "Differentially Private
 * Learning with Adaptive Clipping"): the clip bound follows a target quantile γ of the
 * clients' update norms by geometric updates
 *
 *   C ← C · exp(-η (b̃ - γ)),   b̃ = (Σ_i 1[‖Δ_i‖ <= C] + N(0, σ_b²)) / n
 *
 * The indicator count is itself privatised with std σ_b. With noise multiplier `z` for the
 * released sum, the deltas' noise multiplier must be raised to
 * `z_Δ = (z^-2 - (2 σ_b)^-2)^(-1/2)` so the pair costs what one Gaussian release with `z`
 * costs ({@link adaptiveDeltaNoiseMultiplier}).
 *
 * @module
 */
import type { Prng } from "../crypto/prng.ts";

/** Options of {@link AdaptiveClipper}. */
export interface AdaptiveClipOptions {
  /** Starting clip bound C_0 (default 0.1). */
  initialClip?: number;
  /** Target quantile γ of the norms (default 0.5: the median). */
  targetQuantile?: number;
  /** Geometric learning rate η (default 0.2). */
  learningRate?: number;
  /** Std σ_b of the noise on the clipped-count (default 0: not private). */
  countNoiseStd?: number;
  /** Generator for the count noise; required when `countNoiseStd > 0`. */
  rng?: Prng;
}

/**
 * A clip bound that tracks a quantile of update norms across rounds.
 *
 * @example
 * ```ts
 * import { AdaptiveClipper } from "./adaptive_clip.ts";
 * const c = new AdaptiveClipper({ initialClip: 1, targetQuantile: 0.5 });
 * for (let r = 0; r < 200; r++) c.update([0.1, 0.2, 0.3, 0.4, 0.5]);
 * console.assert(c.clip > 0.2 && c.clip < 0.45);
 * ```
 */
export class AdaptiveClipper {
  #clip: number;
  readonly targetQuantile: number;
  readonly learningRate: number;
  readonly countNoiseStd: number;
  readonly #rng: Prng | undefined;

  constructor(options: AdaptiveClipOptions = {}) {
    this.#clip = options.initialClip ?? 0.1;
    this.targetQuantile = options.targetQuantile ?? 0.5;
    this.learningRate = options.learningRate ?? 0.2;
    this.countNoiseStd = options.countNoiseStd ?? 0;
    this.#rng = options.rng;
    if (!(this.#clip > 0) || !Number.isFinite(this.#clip)) {
      throw new RangeError(`Cannot create adaptive clipper: initial clip ${this.#clip} <= 0`);
    }
    if (!(this.targetQuantile >= 0 && this.targetQuantile <= 1)) {
      throw new RangeError(
        `Cannot create adaptive clipper: quantile ${this.targetQuantile} not in [0, 1]`,
      );
    }
    if (this.countNoiseStd > 0 && !this.#rng) {
      throw new TypeError(`Cannot create adaptive clipper: count noise needs an rng`);
    }
  }

  /** The bound to clip this round's updates with. */
  get clip(): number {
    return this.#clip;
  }

  /** Moves the bound from this round's (pre-clipping) norms; returns the new bound. */
  update(norms: readonly number[]): number {
    if (norms.length === 0) return this.#clip;
    let below = 0;
    for (const n of norms) if (n <= this.#clip) below++;
    const noise = this.countNoiseStd > 0 ? this.countNoiseStd * this.#rng!.nextGaussian() : 0;
    const fraction = (below + noise) / norms.length;
    this.#clip *= Math.exp(-this.learningRate * (fraction - this.targetQuantile));
    return this.#clip;
  }
}

/**
 * Noise multiplier for the deltas when the count is released with std `countNoiseStd`, so
 * the pair of releases is as private as one Gaussian release with multiplier `z`.
 *
 * @throws {RangeError} when the count noise is too small for `z` (2 σ_b <= z)
 * @example
 * ```ts
 * import { adaptiveDeltaNoiseMultiplier } from "./adaptive_clip.ts";
 * console.assert(adaptiveDeltaNoiseMultiplier(1, 5) > 1);
 * ```
 */
export function adaptiveDeltaNoiseMultiplier(z: number, countNoiseStd: number): number {
  const inner = z ** -2 - (2 * countNoiseStd) ** -2;
  if (!(inner > 0)) {
    throw new RangeError(
      `Cannot split noise: count std ${countNoiseStd} must exceed z/2 = ${z / 2}`,
    );
  }
  return inner ** -0.5;
}
