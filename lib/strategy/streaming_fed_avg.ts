/**
 * Streaming weighted FedAvg whose result is bit-identical whatever order updates arrive in.
 *
 * Why not a Float64 running sum: `(a + b) + c !== a + (b + c)` in floating point, so two
 * aggregators that receive the same updates in different orders can differ in the last bit,
 * and a validator could not reproduce the aggregate digest. Sorting fixes the order but needs
 * every update in memory at once.
 *
 * Scheme (exact fixed-point in three Float64 limbs, after Rump/Demmel-Nguyen "pre-rounding"):
 * each term `x = n_i * d_i[j]` (computed in f64; a pure function of the update) is split by
 * error-free extraction `q = (r + SIGMA) - SIGMA` into three pieces on a fixed global grid:
 * multiples of 2^0, 2^-33 and 2^-66. Each limb is a sum of multiples of its grid step with
 * magnitude below 2^53 steps, so every addition is exact and therefore associative: the limbs
 * hold the same values for any arrival order, and so does the final `(l0 + (l1 + l2)) / N`
 * rounded once to f32. The part of a term below 2^-67 is dropped (deterministically), an
 * absolute error of at most `count * 2^-67` on the weighted sum - far below f32 rounding for
 * any delta above ~1e-15. Limits, checked: `|n_i * d_i[j]| < 2^32` (else the update is
 * rejected as out of range) and at most 2^20 updates per accumulator (use `hierarchical.ts`
 * beyond). The sum of samples is accumulated the same way, so fractional weights are safe.
 * Memory: 24 bytes per parameter (three f64 limbs, interleaved).
 *
 * Duplicates: `add` of a nodeId already counted is ignored (returns false, counted in
 * `duplicates`), so a retried upload never counts twice (the project's idempotency rule).
 *
 * @example
 * ```ts
 * import { StreamingFedAvg } from "./streaming_fed_avg.ts";
 * const acc = new StreamingFedAvg(2);
 * acc.add({ nodeId: "0xa", delta: new Float32Array([1, 2]), numSamples: 1 });
 * acc.add({ nodeId: "0xb", delta: new Float32Array([3, 4]), numSamples: 3 });
 * console.log(acc.finish().delta); // Float32Array [2.5, 3.5]
 * ```
 *
 * @module
 */
import type { AggregateResult, ClientUpdate, RejectedUpdate } from "./strategy.ts";

/** Largest accepted |numSamples * delta[j]| (exclusive). */
export const MAX_TERM = 2 ** 32;
/** Most updates one accumulator may count while keeping every limb sum exact. */
export const MAX_UPDATES = 2 ** 20;

// Extraction constants: (r + S) - S rounds r to a multiple of ulp(S) = S_k * 2^-52 / 1.5.
const S0 = 1.5 * 2 ** 52; // grid 2^0   (|x| < 2^32, limb sum < 2^52)
const S1 = 1.5 * 2 ** 19; // grid 2^-33 (|r0| <= 2^-1, limb sum < 2^19)
const S2 = 1.5 * 2 ** -14; // grid 2^-66 (|r1| <= 2^-34, limb sum < 2^-14)

/** Exactly adds `n * delta[j]` into interleaved limbs `acc[3j..3j+2]`. */
export function depositExact(acc: Float64Array, delta: Float32Array, n: number): void {
  for (let j = 0, k = 0; j < delta.length; j++, k += 3) {
    const x = n * delta[j]!;
    const q0 = (x + S0) - S0;
    const r0 = x - q0;
    const q1 = (r0 + S1) - S1;
    const q2 = ((r0 - q1) + S2) - S2;
    acc[k] = acc[k]! + q0;
    acc[k + 1] = acc[k + 1]! + q1;
    acc[k + 2] = acc[k + 2]! + q2;
  }
}

/** Scalar version of the same exact scheme (for the sum of samples). */
function depositScalar(limbs: Float64Array, x: number): void {
  const q0 = (x + S0) - S0;
  const r0 = x - q0;
  const q1 = (r0 + S1) - S1;
  limbs[0] = limbs[0]! + q0;
  limbs[1] = limbs[1]! + q1;
  limbs[2] = limbs[2]! + (((r0 - q1) + S2) - S2);
}

/** Returns why an update cannot be added, or undefined when it is usable. */
export function checkUpdate(update: ClientUpdate, length: number): string | undefined {
  const { delta, numSamples: n } = update;
  if (delta.length !== length) return `length ${delta.length} != ${length}`;
  if (!(n > 0) || !Number.isFinite(n)) return `numSamples ${n} not positive`;
  let max = 0;
  for (let j = 0; j < delta.length; j++) {
    const a = Math.abs(delta[j]!);
    if (!(a <= max)) {
      if (a !== a || a === Infinity) return "non-finite values";
      max = a;
    }
  }
  if (max * n >= MAX_TERM) return `numSamples * |delta| ${max * n} >= 2^32`;
  return undefined;
}

/** Order-independent streaming weighted mean of deltas; memory O(params). */
export class StreamingFedAvg {
  /** Parameters per update. */
  readonly length: number;
  #acc: Float64Array;
  #samples = new Float64Array(3);
  #seen = new Set<string>();
  #accepted: string[] = [];
  #rejected: RejectedUpdate[] = [];
  #duplicates = 0;
  #finished = false;

  /** Creates an accumulator for deltas of `length` parameters. */
  constructor(length: number) {
    if (!Number.isInteger(length) || length <= 0) {
      throw new RangeError(`Cannot create accumulator: length ${length} is not a positive integer`);
    }
    this.length = length;
    this.#acc = new Float64Array(length * 3);
  }

  /** Updates counted so far. */
  get count(): number {
    return this.#accepted.length;
  }

  /** Sum of numSamples of counted updates (exact for integer counts). */
  get totalSamples(): number {
    return limbsToNumber(this.#samples);
  }

  /** Adds ignored because their nodeId was already counted. */
  get duplicates(): number {
    return this.#duplicates;
  }

  /** Updates skipped as invalid so far. */
  get rejected(): readonly RejectedUpdate[] {
    return this.#rejected;
  }

  /**
   * Counts one update. Returns true when counted; false when its nodeId was already counted
   * (ignored) or it is invalid (recorded in `rejected`; that node may retry with a valid one).
   * Throws after `finish()` or past MAX_UPDATES.
   */
  add(update: ClientUpdate): boolean {
    if (this.#finished) throw new Error("Cannot add update: accumulator already finished");
    if (this.#seen.has(update.nodeId)) {
      this.#duplicates++;
      return false;
    }
    const reason = checkUpdate(update, this.length);
    if (reason !== undefined) {
      this.#rejected.push({ nodeId: update.nodeId, reason });
      return false;
    }
    if (this.#accepted.length >= MAX_UPDATES) {
      throw new RangeError(`Cannot add update: more than ${MAX_UPDATES} updates; use clusters`);
    }
    this.#seen.add(update.nodeId);
    depositExact(this.#acc, update.delta, update.numSamples);
    depositScalar(this.#samples, update.numSamples);
    this.#accepted.push(update.nodeId);
    return true;
  }

  /**
   * Adds another accumulator's exact partial sums (a cluster aggregator's state); the result
   * equals adding the other's updates here directly, bit for bit.
   */
  merge(other: StreamingFedAvg): void {
    if (this.#finished) throw new Error("Cannot merge: accumulator already finished");
    if (other.length !== this.length) {
      throw new RangeError(`Cannot merge: length ${other.length} != ${this.length}`);
    }
    for (const id of other.#accepted) {
      if (this.#seen.has(id)) throw new RangeError(`Cannot merge: node ${id} counted twice`);
    }
    if (this.count + other.count > MAX_UPDATES) {
      throw new RangeError(`Cannot merge: more than ${MAX_UPDATES} updates`);
    }
    const a = this.#acc, b = other.#acc;
    for (let k = 0; k < a.length; k++) a[k] = a[k]! + b[k]!;
    for (let k = 0; k < 3; k++) this.#samples[k] = this.#samples[k]! + other.#samples[k]!;
    for (const id of other.#accepted) {
      this.#seen.add(id);
      this.#accepted.push(id);
    }
    for (const r of other.#rejected) this.#rejected.push(r);
  }

  /**
   * Returns sum(n_i d_i) / sum(n_i) rounded once to f32; `accepted` sorted by nodeId.
   * Throws RangeError when no update was counted. The accumulator is released afterwards.
   */
  finish(): AggregateResult {
    if (this.#finished) throw new Error("Cannot finish: accumulator already finished");
    if (this.count === 0) {
      throw new RangeError(`Cannot aggregate: no valid update (${this.#rejected.length} rejected)`);
    }
    const total = this.totalSamples;
    const acc = this.#acc;
    const out = new Float32Array(this.length);
    for (let j = 0, k = 0; j < out.length; j++, k += 3) {
      out[j] = (acc[k]! + (acc[k + 1]! + acc[k + 2]!)) / total;
    }
    this.#finished = true;
    this.#acc = new Float64Array(0);
    return {
      delta: out,
      accepted: [...this.#accepted].sort(),
      rejected: [...this.#rejected].sort((a, b) =>
        a.nodeId < b.nodeId ? -1 : +(a.nodeId > b.nodeId)
      ),
    };
  }
}

function limbsToNumber(limbs: Float64Array): number {
  return limbs[0]! + (limbs[1]! + limbs[2]!);
}
