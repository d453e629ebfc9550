/**
 * Krum and Multi-Krum (Blanchard et al. 2017; El Mhamdi et al. 2018). Each update is scored
 * by the sum of squared distances to its `n - f - 2` nearest neighbours; Byzantine updates
 * far from the honest cluster score high. Krum returns the single best update; Multi-Krum
 * averages the `m` best (default `n - f`). Needs `n >= 2f + 3`.
 *
 * The selected updates are averaged uniformly by default: a Byzantine update that survives
 * selection must not gain weight by claiming a huge numSamples.
 *
 * Speed and reproducibility: the pairwise distances run in wasm over blocks of coordinates
 * (_columns.ts; f64 differences and squares summed in a fixed order, so each distance depends
 * on its two updates only), and the mean of the selected updates is the exact fixed-point
 * FedAvg sum (fixed_point_sum.ts): the result does not depend on arrival order.
 *
 * @example
 * ```ts
 * import { Krum } from "./krum.ts";
 * const u = (id: string, x: number) => ({ nodeId: id, delta: new Float32Array([x]), numSamples: 1 });
 * const r = new Krum({ f: 0 }).aggregate([u("0xa", 1), u("0xb", 1.1), u("0xc", 0.9), u("0xd", 50)]);
 * console.assert(r.delta[0] === 1 && r.accepted.length === 1);
 * ```
 *
 * @module
 */
import type { AggregateResult, ClientUpdate, RejectedUpdate, Strategy } from "./strategy.ts";
import { squaredDistanceMatrix } from "./_columns.ts";
import { dropInvalid, prepareShapes } from "./_robust.ts";
import { exactWeightedMean } from "./exact_weighted_mean.ts";

/** Options of {@link Krum}. */
export interface KrumOptions {
  /** Number of Byzantine clients tolerated. */
  f: number;
  /** Updates averaged (Multi-Krum); default 1 (Krum). Use `Infinity` for `n - f`. */
  m?: number;
  /** Average selected updates "uniform" (default) or by "samples". */
  weighting?: "uniform" | "samples";
  /** Model length; default: the most common delta length. */
  length?: number;
}

/** Krum / Multi-Krum selection followed by averaging. */
export class Krum implements Strategy {
  readonly name: string;
  readonly f: number;
  readonly m: number;
  readonly weighting: "uniform" | "samples";
  readonly #length: number | undefined;

  constructor(options: KrumOptions) {
    this.f = options.f;
    this.m = options.m ?? 1;
    if (!Number.isInteger(this.f) || this.f < 0) {
      throw new RangeError(`Cannot create Krum: f ${this.f} is not a non-negative integer`);
    }
    if (!(this.m >= 1) || (!Number.isInteger(this.m) && this.m !== Infinity)) {
      throw new RangeError(`Cannot create Krum: m ${this.m} is not a positive integer`);
    }
    this.weighting = options.weighting ?? "uniform";
    this.name = this.m === 1 ? "krum" : "multi-krum";
    this.#length = options.length;
  }

  /** Combines the round's updates; throws RangeError with fewer than 2f + 3 usable. */
  aggregate(updates: readonly ClientUpdate[]): AggregateResult {
    const prepared = prepareShapes(updates, this.name, this.#length);
    const distances = squaredDistanceMatrix(prepared.valid.map((u) => u.delta));
    const { valid, rejected } = dropInvalid(prepared, distances.invalid, this.name);
    const n = valid.length;
    checkKrumSize(this.name, n, this.f);
    const scores = krumScores(distances.state!, n, range(n), this.f);
    const order = range(n).sort((a, b) => scores[a]! - scores[b]! || a - b);
    const m = Math.min(this.m === Infinity ? n - this.f : this.m, n);
    const chosen = order.slice(0, m).sort((a, b) => a - b);
    const selected = chosen.map((i) => valid[i]!);
    const weights = selected.map((u) => (this.weighting === "samples" ? u.numSamples : 1));
    const out: RejectedUpdate[] = [...rejected];
    order.slice(m).forEach((i, r) =>
      out.push({
        nodeId: valid[i]!.nodeId,
        reason: `${this.name}: score ${scores[i]!.toPrecision(4)} ranked ${m + r + 1} of ${n}`,
      })
    );
    return {
      delta: exactWeightedMean(selected.map((u) => u.delta), weights).mean!,
      accepted: selected.map((u) => u.nodeId),
      rejected: out,
    };
  }
}

/**
 * Krum scores of `candidates` (indices into an n x n squared-distance matrix), each the sum
 * of its `candidates.length - f - 2` smallest distances to other candidates.
 *
 * @example
 * ```ts
 * import { krumScores } from "./krum.ts";
 * const d = new Float64Array([0, 1, 9, 1, 0, 4, 9, 4, 0]); // 3 points
 * console.assert(krumScores(d, 3, [0, 1, 2], 0)[1] === 1);
 * ```
 */
export function krumScores(
  dist: Float64Array,
  n: number,
  candidates: readonly number[],
  f: number,
): number[] {
  const neighbours = candidates.length - f - 2;
  return candidates.map((i) => {
    const row = candidates.filter((j) => j !== i).map((j) => dist[i * n + j]!);
    row.sort((a, b) => a - b);
    let s = 0;
    for (let j = 0; j < Math.max(1, neighbours) && j < row.length; j++) s += row[j]!;
    return s;
  });
}

/** Throws unless n >= 2f + 3. */
export function checkKrumSize(name: string, n: number, f: number): void {
  if (n < 2 * f + 3) {
    throw new RangeError(
      `Cannot aggregate with ${name}: ${n} usable updates, need at least 2f + 3 = ${2 * f + 3}`,
    );
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
