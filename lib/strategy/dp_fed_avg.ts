/**
 * DP-FedAvg (McMahan et al. 2018, "Learning Differentially Private Recurrent Language
 * Models"): clip each client's delta to L2 norm C, sum, add N(0, (z C)²) per coordinate,
 * divide by the number of clients. Uniform weights (numSamples is ignored): weighting by a
 * client-reported count would change the sensitivity the noise is calibrated to.
 *
 * With an {@link RdpAccountant}, every round is charged *before* anything is computed, and
 * a round past the budget throws {@link BudgetExceededError} (nothing is released). With
 * an {@link AdaptiveClipper}, C follows a quantile of the norms (Andrew et al. 2021).
 *
 * @module
 */
import type { AggregateResult, ClientUpdate, Strategy } from "./strategy.ts";
import { prepareUpdates } from "./_robust.ts";
import { Prng } from "../crypto/prng.ts";
import { SecureRng } from "../crypto/secure_rng.ts";
import { addGaussianNoise, clipL2 } from "../privacy/dp.ts";
import type { AdaptiveClipper } from "../privacy/adaptive_clip.ts";
import type { RdpAccountant } from "../privacy/rdp_accountant.ts";

/** Options of {@link DpFedAvg}. */
export interface DpFedAvgOptions {
  /** Fixed L2 clip bound C, or an adaptive clipper. */
  clip: number | AdaptiveClipper;
  /** Noise multiplier z: noise std on the sum is z * C. */
  noiseMultiplier: number;
  /**
   * The noise generator, or a seed of a reproducible one (public: benches and tests only).
   * Default: a secret ChaCha20 stream from the platform's CSPRNG (SecureRng). Found in the
   * privacy audit: the default was the public seed 0, so any caller that left it out released
   * noise anyone could regenerate and subtract.
   */
  seed?: number | Prng;
  /** Charged once per round with (sampleRate, noiseMultiplier). */
  accountant?: RdpAccountant;
  /** Probability each client takes part in a round (accountant's q; default 1). */
  sampleRate?: number;
  /** Divide by this fixed count instead of the number of valid updates. */
  expectedClients?: number;
  /** Model length; default: the most common delta length. */
  length?: number;
}

/**
 * Clipped, noised mean of deltas.
 *
 * @example
 * ```ts
 * import { DpFedAvg } from "./dp_fed_avg.ts";
 * import { RdpAccountant } from "../privacy/rdp_accountant.ts";
 * const accountant = new RdpAccountant({ delta: 1e-5, maxEpsilon: 10 });
 * const dp = new DpFedAvg({ clip: 1, noiseMultiplier: 1.1, seed: 7, accountant, sampleRate: 0.1 });
 * const r = dp.aggregate([
 *   { nodeId: "0xa", delta: new Float32Array([3, 4]), numSamples: 1 },
 *   { nodeId: "0xb", delta: new Float32Array([0.1, 0]), numSamples: 1 },
 * ]);
 * console.assert(r.delta.length === 2 && accountant.steps === 1);
 * ```
 */
export class DpFedAvg implements Strategy {
  readonly name = "dp-fedavg";
  readonly noiseMultiplier: number;
  readonly #clip: number | AdaptiveClipper;
  readonly #rng: Prng;
  readonly #options: DpFedAvgOptions;

  constructor(options: DpFedAvgOptions) {
    if (!(options.noiseMultiplier >= 0) || !Number.isFinite(options.noiseMultiplier)) {
      throw new RangeError(
        `Cannot create DP-FedAvg: noise multiplier ${options.noiseMultiplier} is not >= 0`,
      );
    }
    this.noiseMultiplier = options.noiseMultiplier;
    this.#clip = options.clip;
    const seed = options.seed;
    this.#rng = seed instanceof Prng ? seed : seed === undefined ? new SecureRng() : new Prng(seed);
    this.#options = options;
  }

  /** The clip bound the next round uses. */
  get clip(): number {
    return typeof this.#clip === "number" ? this.#clip : this.#clip.clip;
  }

  /**
   * Combines the round's updates.
   *
   * @throws {BudgetExceededError} when the accountant refuses the round
   * @throws {RangeError} when no update is usable
   */
  aggregate(updates: readonly ClientUpdate[]): AggregateResult {
    const { valid, rejected, length } = prepareUpdates(updates, this.name, this.#options.length);
    this.#options.accountant?.spend(this.#options.sampleRate ?? 1, this.noiseMultiplier);
    const clip = this.clip;
    const sum = new Float64Array(length);
    const norms: number[] = [];
    for (const u of valid) {
      const c = clipL2(u.delta, clip);
      norms.push(c.norm);
      for (let i = 0; i < length; i++) sum[i]! += c.delta[i]!;
    }
    const noised = addGaussianNoise(Float32Array.from(sum), this.noiseMultiplier * clip, this.#rng);
    const divisor = this.#options.expectedClients ?? valid.length;
    for (let i = 0; i < length; i++) noised[i]! /= divisor;
    if (typeof this.#clip !== "number") this.#clip.update(norms);
    return { delta: noised, accepted: valid.map((u) => u.nodeId), rejected };
  }
}
