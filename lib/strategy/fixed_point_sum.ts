/**
 * Exact, order-independent sums of weighted f32 vectors, the arithmetic under FedAvg.
 *
 * Why: `(a + b) + c !== a + (b + c)` in floating point, so aggregators that receive the same
 * updates in different orders would disagree in the last bit and a validator could not reproduce
 * an aggregate's digest. Here every term is rounded once, on its own, to a fixed grid and the
 * rounded terms are added as integers, which is associative: any order, any grouping (batch,
 * streaming, cluster partial sums merged) gives the same integers and so the same bytes.
 *
 * Definition. For weights n_i and deltas d_i, coordinate j of the result is
 *
 *     S_j = sum_i RN(x_ij, 2^-64),  x_ij = RN64(n_i * d_i[j])       (RN: nearest, ties to even)
 *     mean_j = f32(RN64(S_j) / N),   N = the exact sum of the n_i (to 2^-66)
 *
 * where `RN64(S_j)` is computed from the canonical limbs of S_j (see wasm/fixed_point.ts), a
 * deterministic function of S_j alone. `x_ij` is exact for integer n_i < 2^29.
 *
 * Error bound. Each term is off by at most 2^-65, so with K updates
 * `|S_j - sum_i x_ij| <= K * 2^-65`; converting S_j to f64 and dividing adds at most
 * `2^-51 * |mean_j|`. For integer sample counts (N exact, N >= K) the value rounded to f32 is
 * within `2^-65 + 2^-51 * |mean_j|` of the exact weighted mean: for every |mean_j| >= 2^-40
 * (~1e-12) that is below 2^-24 of an f32 ulp of the mean, so the output is the correctly
 * rounded f32 mean except, rarely, one ulp off next to a rounding tie. Checked against a BigInt
 * reference in tests/lib/strategy/fixed_point_sum_test.ts.
 *
 * Limits (checked): `|n_i * d_i[j]| < MAX_TERM = 2^28`, weights in [MIN_WEIGHT, MAX_WEIGHT) and
 * at most MAX_UPDATES = 2^20 terms per sum; they keep both i64 limbs from overflowing.
 *
 * Speed: the sums run in wasm SIMD (lib/strategy/wasm/), a block of 4,096 coordinates at a
 * time, so each vector is read from memory once; `add` copies a vector and sums several at once
 * (`pending`), `addAll` and exact_weighted_mean.ts go block by block over all vectors.
 *
 * @example
 * ```ts
 * import { ExactWeightSum, FixedPointSum } from "./fixed_point_sum.ts";
 * const sum = new FixedPointSum(3);
 * const total = new ExactWeightSum();
 * for (const [values, n] of [[[1, 2, 3], 1], [[2, 0, -1], 2], [[0, 4, 1], 1]] as const) {
 *   sum.add(new Float32Array(values), n);
 *   total.add(n);
 * }
 * console.log(sum.divide(total.value)); // Float32Array [1.25, 1.5, 0.5]
 * ```
 *
 * @module
 */
import {
  acquireWorkspace,
  BLOCK,
  CARRY_EVERY,
  GROUP,
  MAX_TERM,
  padded,
  releaseWorkspace,
  type TermError,
  type Workspace,
} from "./_aggregate_wasm.ts";

export { BLOCK, MAX_TERM, type TermError };
/** Where the aggregation kernels' binary is read from (a page hands its bytes to that path). */
export { AGGREGATE_WASM_URL } from "./_aggregate_wasm.ts";
/** Most terms one sum may count. */
export const MAX_UPDATES = 2 ** 20;
/** Smallest accepted weight (numSamples). */
export const MIN_WEIGHT = 2 ** -24;
/** Largest accepted weight (exclusive). */
export const MAX_WEIGHT = 2 ** 32;
/** The grid every term is rounded to. */
export const GRID = 2 ** -64;

/** Exact sum of weights (three f64 limbs on grids 1, 2^-33, 2^-66; weights < 2^32). */
export class ExactWeightSum {
  #limbs = new Float64Array(3);

  /** Adds one weight. */
  add(w: number): void {
    const l = this.#limbs;
    const q0 = (w + 1.5 * 2 ** 52) - 1.5 * 2 ** 52;
    const r0 = w - q0;
    const q1 = (r0 + 1.5 * 2 ** 19) - 1.5 * 2 ** 19;
    l[0] = l[0]! + q0;
    l[1] = l[1]! + q1;
    l[2] = l[2]! + (((r0 - q1) + 1.5 * 2 ** -14) - 1.5 * 2 ** -14);
  }

  /** Adds another sum's limbs. */
  merge(other: ExactWeightSum): void {
    for (let k = 0; k < 3; k++) this.#limbs[k] = this.#limbs[k]! + other.#limbs[k]!;
  }

  /** The sum as one number (a deterministic function of the exact sum). */
  get value(): number {
    const l = this.#limbs;
    return l[0]! + (l[1]! + l[2]!);
  }
}

/** Why `weight` cannot be used, or undefined. */
export function checkWeight(weight: number): string | undefined {
  if (!(weight > 0) || !Number.isFinite(weight)) return `numSamples ${weight} not positive`;
  if (weight < MIN_WEIGHT || weight >= MAX_WEIGHT) {
    return `numSamples ${weight} outside [2^-24, 2^32)`;
  }
  return undefined;
}

/** Coordinates per wasm instance of a {@link FixedPointSum} (keeps each memory near 1 GiB). */
const SHARD = 2 ** 25;

/** A slice [start, start + length) of a sum: limbs plus slots for pending vectors. */
class Shard {
  readonly ws: Workspace;
  sinceCarry = 0;

  constructor(readonly start: number, readonly length: number, readonly pending: number) {
    const floats = padded(length);
    this.ws = acquireWorkspace({ slots: pending, slotFloats: floats, accCoordinates: floats });
  }

  #blocks(): [number, number][] {
    const out: [number, number][] = [];
    for (let b = 0; b < this.length; b += BLOCK) out.push([b, Math.min(BLOCK, this.length - b)]);
    return out;
  }

  /** Copies and checks this shard's part of `values` into pending slot `slot`. */
  stage(slot: number, values: Float32Array, weight: number): TermError | undefined {
    const ws = this.ws;
    for (const [b, len] of this.#blocks()) {
      ws.load(slot, b, values, this.start + b, len);
      ws.scan(slot * (ws.stride >> 2) + b, 1, len); // while the block is in cache
      const problem = ws.problem(0, weight);
      if (problem !== undefined) return problem;
    }
    ws.setWeight(slot, weight);
    return undefined;
  }

  /** Adds the first `count` pending slots to the limbs, a block at a time. */
  flush(count: number): void {
    if (this.sinceCarry + count > CARRY_EVERY) this.carry();
    for (const [b, len] of this.#blocks()) this.ws.deposit(this.ws.acc + b * 16, b, count, len);
    this.sinceCarry += count;
  }

  /**
   * Adds `vectors[i] * weights[i]` for i in `indices` (at most CARRY_EVERY / 2), block-major
   * through the pending slots; a vector found unusable is withdrawn from the blocks already
   * added (exact) and reported.
   */
  addMany(
    vectors: readonly Float32Array[],
    weights: readonly number[],
    indices: readonly number[],
  ): Map<number, TermError> {
    const ws = this.ws;
    if (this.sinceCarry + indices.length > CARRY_EVERY) this.carry();
    const bad = new Map<number, TermError>();
    let live = [...indices];
    for (const [b, len] of this.#blocks()) {
      for (let g = 0; g < live.length; g += this.pending) {
        const group = live.slice(g, g + this.pending);
        const found: number[] = [];
        ws.stage(b, vectors, weights, group, this.start + b, len).forEach((problem, s) => {
          if (problem === undefined) return;
          bad.set(group[s]!, problem);
          found.push(group[s]!);
          ws.clearSlot(s, b, len);
        });
        ws.deposit(ws.acc + b * 16, b, group.length, len);
        for (const i of found) this.withdraw(vectors[i]!, weights[i]!, b);
      }
      if (bad.size > 0) live = live.filter((i) => !bad.has(i));
    }
    this.sinceCarry += indices.length;
    return bad;
  }

  /** Subtracts `weight * values` over the shard's blocks before `end` (exact). */
  withdraw(values: Float32Array, weight: number, end = this.length): void {
    const ws = this.ws;
    for (const [b, len] of this.#blocks()) {
      if (b >= end) break;
      ws.load(0, b, values, this.start + b, len);
      ws.setWeight(0, -weight);
      ws.deposit(ws.acc + b * 16, b, 1, len);
    }
  }

  carry(): void {
    this.ws.kernels.carry(this.ws.acc, padded(this.length));
    this.sinceCarry = 0;
  }
}

/** Options of {@link FixedPointSum}. */
export interface FixedPointSumOptions {
  /**
   * Vectors `add` copies (and checks) before summing them together (default 4, at most 16):
   * each pass over the limbs then serves several vectors. 4 bytes per coordinate each.
   */
  pending?: number;
  /** Coordinates per wasm instance (default 2^25, keeping each memory near 1 GiB); for tests. */
  shard?: number;
}

/**
 * A running exact sum of weighted vectors of one length: 16 bytes of limbs per coordinate plus
 * 4 per pending vector, in wasm memory. Adding is exact and order-independent (module doc).
 */
export class FixedPointSum {
  /** Coordinates per vector. */
  readonly length: number;
  readonly #shards: Shard[] = [];
  readonly #capacity: number;
  #pending = 0;
  #released = false;

  /** Creates a zero sum of vectors of `length` coordinates. */
  constructor(length: number, options: FixedPointSumOptions = {}) {
    if (!Number.isInteger(length) || length <= 0) {
      throw new RangeError(`Cannot create sum: length ${length} is not a positive integer`);
    }
    const pending = options.pending ?? 4;
    if (!Number.isInteger(pending) || pending < 1 || pending > GROUP) {
      throw new RangeError(`Cannot create sum: pending ${pending} is not in [1, ${GROUP}]`);
    }
    const shard = options.shard ?? SHARD;
    if (!Number.isInteger(shard) || shard < 8 || shard % 8 !== 0) {
      throw new RangeError(`Cannot create sum: shard ${shard} is not a positive multiple of 8`);
    }
    this.length = length;
    this.#capacity = pending;
    for (let start = 0; start < length; start += shard) {
      this.#shards.push(new Shard(start, Math.min(shard, length - start), pending));
    }
  }

  /**
   * Adds `weight * values` exactly, or returns why not (a non-finite value, or some
   * |weight * value| >= MAX_TERM) and leaves the sum unchanged. `values` is copied (read once)
   * and may change afterwards. The weight must pass {@link checkWeight}.
   */
  add(values: Float32Array, weight: number): TermError | undefined {
    this.#check(values);
    for (const shard of this.#shards) {
      const problem = shard.stage(this.#pending, values, weight);
      if (problem !== undefined) return problem; // the slot is simply reused
    }
    if (++this.#pending === this.#capacity) this.#flush();
    return undefined;
  }

  /**
   * `add` of every vector, bit-identical, but block by block over all of them: each vector is
   * read once and each block of limbs serves a group of vectors. Returns index -> problem of
   * every vector left out (the sum is as if it had never been offered).
   */
  addAll(vectors: readonly Float32Array[], weights: readonly number[]): Map<number, TermError> {
    if (vectors.length !== weights.length) {
      throw new RangeError(`Cannot add: ${vectors.length} vectors, ${weights.length} weights`);
    }
    for (const v of vectors) this.#check(v);
    this.#flush();
    const invalid = new Map<number, TermError>();
    const chunk = CARRY_EVERY / 2;
    for (let c = 0; c < vectors.length; c += chunk) {
      let indices = vectors.map((_, i) => i).slice(c, c + chunk);
      this.#shards.forEach((shard, s) => {
        for (const [i, problem] of shard.addMany(vectors, weights, indices)) {
          invalid.set(i, problem);
          for (const done of this.#shards.slice(0, s)) done.withdraw(vectors[i]!, weights[i]!);
        }
        indices = indices.filter((i) => !invalid.has(i));
      });
    }
    return invalid;
  }

  #check(values: Float32Array): void {
    if (this.#released) throw new Error("Cannot add: the sum was released");
    if (values.length !== this.length) {
      throw new RangeError(`Cannot add: length ${values.length} != ${this.length}`);
    }
  }

  #flush(): void {
    if (this.#pending === 0) return;
    for (const shard of this.#shards) shard.flush(this.#pending);
    this.#pending = 0;
  }

  /** Adds another sum of the same length (exact). */
  merge(other: FixedPointSum): void {
    if (other.length !== this.length) {
      throw new RangeError(`Cannot merge: length ${other.length} != ${this.length}`);
    }
    if (this.#released || other.#released) throw new Error("Cannot merge: a sum was released");
    this.#flush();
    other.#flush();
    this.#shards.forEach((shard, s) => {
      const from = other.#shards[s]!;
      from.carry();
      shard.carry();
      const src = new Uint8Array(from.ws.kernels.memory.buffer);
      const staging = new Uint8Array(shard.ws.kernels.memory.buffer);
      for (let b = 0; b < shard.length; b += BLOCK) {
        const n = padded(Math.min(BLOCK, shard.length - b));
        staging.set(src.subarray(from.ws.acc + b * 16, from.ws.acc + (b + n) * 16), shard.ws.slots);
        shard.ws.kernels.addLimbs(shard.ws.acc + b * 16, shard.ws.slots, n);
      }
    });
  }

  /** `f32(sum / total)` per coordinate; the sum is unchanged. */
  divide(total: number): Float32Array {
    if (this.#released) throw new Error("Cannot divide: the sum was released");
    this.#flush();
    const out = new Float32Array(this.length);
    for (const shard of this.#shards) {
      for (let b = 0; b < shard.length; b += BLOCK) {
        const len = Math.min(BLOCK, shard.length - b);
        shard.ws.finalize(shard.ws.acc + b * 16, len, total, out, shard.start + b);
      }
    }
    return out;
  }

  /** Hands the wasm memory back for the next sum; this sum is unusable afterwards. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    for (const shard of this.#shards) releaseWorkspace(shard.ws);
  }
}
