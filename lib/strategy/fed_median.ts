/**
 * Coordinate-wise median (Yin et al. 2018): each coordinate of the aggregate is the median
 * of the clients' values there (the mean of the middle two, in f64, for an even count). Robust
 * while fewer than half the clients are Byzantine; unweighted, because a Byzantine client could
 * claim any numSamples. Computed in wasm by a sorting network over blocks of coordinates
 * (_columns.ts): the result is a function of the set of updates, never of their order.
 *
 * @example
 * ```ts
 * import { FedMedian } from "./fed_median.ts";
 * const r = new FedMedian().aggregate([
 *   { nodeId: "0xa", delta: new Float32Array([1, 5]), numSamples: 1 },
 *   { nodeId: "0xb", delta: new Float32Array([2, -1]), numSamples: 1 },
 *   { nodeId: "0xc", delta: new Float32Array([100, 0]), numSamples: 1 },
 * ]);
 * console.assert(r.delta[0] === 2 && r.delta[1] === 0);
 * ```
 *
 * @module
 */
import type { AggregateResult, ClientUpdate, Strategy } from "./strategy.ts";
import { medianColumns } from "./_columns.ts";
import { dropInvalid, prepareShapes } from "./_robust.ts";

/** Options of {@link FedMedian}. */
export interface FedMedianOptions {
  /** Model length; default: the most common delta length. */
  length?: number;
}

/** Coordinate-wise median of deltas. */
export class FedMedian implements Strategy {
  readonly name = "median";
  readonly #length: number | undefined;

  constructor(options: FedMedianOptions = {}) {
    this.#length = options.length;
  }

  /** Combines the round's updates; throws RangeError when none is usable. */
  aggregate(updates: readonly ClientUpdate[]): AggregateResult {
    const prepared = prepareShapes(updates, this.name, this.#length);
    const { state, invalid } = medianColumns(prepared.valid.map((u) => u.delta));
    const { valid, rejected } = dropInvalid(prepared, invalid, this.name);
    return { delta: state!, accepted: valid.map((u) => u.nodeId), rejected };
  }
}
