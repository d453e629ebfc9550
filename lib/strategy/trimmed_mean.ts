/**
 * Coordinate-wise trimmed mean (Yin et al. 2018): at each coordinate drop the
 * `floor(beta * n)` largest and smallest values and average the rest. Tolerates up to
 * `beta * n` Byzantine clients; `beta = 0` is the plain (unweighted) mean. Computed in wasm
 * (_columns.ts): a sorting network per block of coordinates, then the exact fixed-point sum of
 * the kept values (fixed_point_sum.ts: within 2^-65 per value), so the bytes depend only on the
 * set of updates.
 *
 * @example
 * ```ts
 * import { TrimmedMean } from "./trimmed_mean.ts";
 * const r = new TrimmedMean({ beta: 0.34 }).aggregate([
 *   { nodeId: "0xa", delta: new Float32Array([1]), numSamples: 1 },
 *   { nodeId: "0xb", delta: new Float32Array([2]), numSamples: 1 },
 *   { nodeId: "0xc", delta: new Float32Array([-90]), numSamples: 1 },
 * ]);
 * console.assert(r.delta[0] === 1); // trims -90 and 2
 * ```
 *
 * @module
 */
import type { AggregateResult, ClientUpdate, Strategy } from "./strategy.ts";
import { trimmedMeanColumns } from "./_columns.ts";
import { dropInvalid, prepareShapes } from "./_robust.ts";

/** Options of {@link TrimmedMean}. */
export interface TrimmedMeanOptions {
  /** Fraction trimmed from *each* end, in [0, 0.5) (default 0.1). */
  beta?: number;
  /** Model length; default: the most common delta length. */
  length?: number;
}

/** Coordinate-wise beta-trimmed mean. */
export class TrimmedMean implements Strategy {
  readonly name = "trimmed-mean";
  readonly beta: number;
  readonly #length: number | undefined;

  constructor(options: TrimmedMeanOptions = {}) {
    this.beta = options.beta ?? 0.1;
    if (!(this.beta >= 0 && this.beta < 0.5)) {
      throw new RangeError(`Cannot create trimmed mean: beta ${this.beta} is not in [0, 0.5)`);
    }
    this.#length = options.length;
  }

  /** Combines the round's updates; throws RangeError when none is usable. */
  aggregate(updates: readonly ClientUpdate[]): AggregateResult {
    const prepared = prepareShapes(updates, this.name, this.#length);
    const trimFor = (n: number) => Math.floor(this.beta * n); // keeps n - 2 trim >= 1 (beta < 0.5)
    const { state, invalid } = trimmedMeanColumns(prepared.valid.map((u) => u.delta), trimFor);
    const { valid, rejected } = dropInvalid(prepared, invalid, this.name);
    const delta = state!;
    return { delta, accepted: valid.map((u) => u.nodeId), rejected };
  }
}
