/**
 * Coordinate-wise median (Yin et al. 2018): each coordinate of the aggregate is the median
 * of the clients' values there. Robust while fewer than half the clients are Byzantine;
 * unweighted, because a Byzantine client could claim any numSamples.
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
import { coordinateWise, prepareUpdates, sortedMedian } from "./_robust.ts";

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
    const { valid, rejected, length } = prepareUpdates(updates, this.name, this.#length);
    return {
      delta: coordinateWise(valid, length, sortedMedian),
      accepted: valid.map((u) => u.nodeId),
      rejected,
    };
  }
}
