/**
 * Adaptive clipping (Andrew, Thakkar, McMahan & Ramaswamy 2021, "Differentially Private
 * Learning with Adaptive Clipping"): the clip bound follows a target quantile γ of the
 * clients' update norms by geometric updates
 *
 *   C ← C · exp(-η (b̃ - γ)),   b̃ = (Σ_i (1[‖Δ_i‖ <= C] - ½) + N(0, σ_b²)) / n + ½
 *
 * The count is itself privatised with std σ_b, and, as in the paper and TF-Federated, over flags
 * shifted to {-½, +½}: what is released is the noised sum of the shifted flags.
 *
 * Adjacency (the one the accountant's sensitivity m x C of the update sum assumes): two rounds
 * differ in one data owner, whose m counted updates are present or absent (zeroed out), the
 * divisor n being public. Absent, an update adds 0 to the update sum and 0 to the shifted count;
 * present, at most C and ½ in norm. So m copies move the update sum by m·C and the count by m/2,
 * and the pair of Gaussian releases has RDP α m² / 2 · (z_Δ^-2 + (2 σ_b)^-2). With the update
 * noise multiplier raised to `z_Δ = (z^-2 - (2 σ_b)^-2)^(-1/2)`
 * ({@link adaptiveDeltaNoiseMultiplier}) that is α m² / (2 z²): exactly one Gaussian release at
 * multiplier z / m, what the accountant charges. With plain {0, 1} flags a present flag adds up
 * to 1, the count's sensitivity is m, and the same z_Δ would leave the pair at an effective
 * multiplier (z^-2 + 3/4 σ_b^-2)^(-1/2) per copy (0.756 for z = σ_b = 1), not z.
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

  /**
   * Moves the bound from this round's (pre-clipping) norms; returns the new bound. `divisor` is
   * the public n of the estimate (default: the number of norms, as DP-FedAvg divides its sum).
   */
  update(norms: readonly number[], divisor: number = norms.length): number {
    if (norms.length === 0) return this.#clip;
    // Flags in {-½, +½}: an absent update (0) sits halfway, so one copy moves the sum by ½.
    let shifted = 0;
    for (const n of norms) shifted += n <= this.#clip ? 0.5 : -0.5;
    const noise = this.countNoiseStd > 0 ? this.countNoiseStd * this.#rng!.nextGaussian() : 0;
    const fraction = (shifted + noise) / divisor + 0.5;
    this.#clip *= Math.exp(-this.learningRate * (fraction - this.targetQuantile));
    return this.#clip;
  }
}

/**
 * Noise multiplier for the deltas when the shifted count (sensitivity ½ per copy) is released
 * with std `countNoiseStd`, so the pair of releases is as private as one Gaussian release with
 * multiplier `z` (z_Δ^-2 + (2 σ_b)^-2 = z^-2).
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
