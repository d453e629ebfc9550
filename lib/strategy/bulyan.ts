/**
 * Bulyan (El Mhamdi, Guerraoui & Rouault 2018): select `θ = n - 2f` updates by repeated
 * Krum (each round removes the best-scoring update from the pool and rescores the rest),
 * then at each coordinate average the `β = θ - 2f` selected values closest to their median.
 * Needs `n >= 4f + 3`; bounds each coordinate's deviation, which Krum alone does not.
 * Distances, sorts and the window's exact sum run in wasm (_columns.ts), so the result depends
 * only on the set of updates.
 *
 * @example
 * ```ts
 * import { Bulyan } from "./bulyan.ts";
 * const u = (id: string, x: number) => ({ nodeId: id, delta: new Float32Array([x]), numSamples: 1 });
 * const ups = [u("0xa", 1), u("0xb", 2), u("0xc", 3), u("0xd", 4), u("0xe", 5), u("0xf", 6), u("0xg", 900)];
 * const r = new Bulyan({ f: 1 }).aggregate(ups);
 * console.assert(r.delta[0]! >= 2 && r.delta[0]! <= 5);
 * ```
 *
 * @module
 */
import type { AggregateResult, ClientUpdate, RejectedUpdate, Strategy } from "./strategy.ts";
import { closestMeanColumns, squaredDistanceMatrix } from "./_columns.ts";
import { dropInvalid, prepareShapes } from "./_robust.ts";
import { krumScores } from "./krum.ts";

/** Options of {@link Bulyan}. */
export interface BulyanOptions {
  /** Number of Byzantine clients tolerated. */
  f: number;
  /** Model length; default: the most common delta length. */
  length?: number;
}

/** Bulyan over Krum. */
export class Bulyan implements Strategy {
  readonly name = "bulyan";
  readonly f: number;
  readonly #length: number | undefined;

  constructor(options: BulyanOptions) {
    this.f = options.f;
    if (!Number.isInteger(this.f) || this.f < 0) {
      throw new RangeError(`Cannot create Bulyan: f ${this.f} is not a non-negative integer`);
    }
    this.#length = options.length;
  }

  /** Combines the round's updates; throws RangeError with fewer than 4f + 3 usable. */
  aggregate(updates: readonly ClientUpdate[]): AggregateResult {
    const prepared = prepareShapes(updates, this.name, this.#length);
    const distances = squaredDistanceMatrix(prepared.valid.map((u) => u.delta));
    const { valid, rejected } = dropInvalid(prepared, distances.invalid, this.name);
    const n = valid.length;
    const f = this.f;
    if (n < 4 * f + 3) {
      throw new RangeError(
        `Cannot aggregate with bulyan: ${n} usable updates, need at least 4f + 3 = ${4 * f + 3}`,
      );
    }
    const dist = distances.state!;
    const theta = n - 2 * f;
    let pool = Array.from({ length: n }, (_, i) => i);
    const chosen: number[] = [];
    while (chosen.length < theta) {
      // Krum over the pool; once the pool is too small for f, fall back to f = 0 scoring.
      const fEff = Math.max(0, Math.min(f, pool.length - 3));
      const scores = krumScores(dist, n, pool, fEff);
      let best = 0;
      for (let j = 1; j < pool.length; j++) if (scores[j]! < scores[best]!) best = j;
      chosen.push(pool[best]!);
      pool = pool.filter((_, j) => j !== best);
    }
    chosen.sort((a, b) => a - b);
    const selected = chosen.map((i) => valid[i]!);
    const beta = theta - 2 * f;
    const delta = closestMeanColumns(selected.map((u) => u.delta), beta).state!;
    const out: RejectedUpdate[] = [...rejected];
    for (const i of pool) {
      out.push({ nodeId: valid[i]!.nodeId, reason: "bulyan: not selected by Krum" });
    }
    return { delta, accepted: selected.map((u) => u.nodeId), rejected: out };
  }
}
