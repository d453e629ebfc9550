/**
 * Streaming weighted FedAvg whose result is bit-identical whatever order updates arrive in, and
 * bit-identical to batch `FedAvg` (fed_avg.ts) and to hierarchical aggregation with exact
 * merging, so an aggregator may stream while a validator recomputes in batch.
 *
 * Why not a Float64 running sum: `(a + b) + c !== a + (b + c)` in floating point, so two
 * aggregators that receive the same updates in different orders can differ in the last bit,
 * and a validator could not reproduce the aggregate digest. Sorting fixes the order but needs
 * every update in memory at once. Here each term `n_i * d_i[j]` is rounded once to the grid
 * 2^-64 and summed as integers ({@link FixedPointSum}: definition, error bound, limits): the
 * error is at most `count * 2^-65` on the weighted sum, far below f32 rounding of the mean.
 * Limits, checked: `|n_i * d_i[j]| < 2^28` (else the update is rejected as out of range),
 * numSamples in [2^-24, 2^32), at most 2^20 updates per accumulator (use `hierarchical.ts`
 * beyond). The sum of samples is exact too, so fractional weights are safe.
 * Memory: 32 bytes per parameter in a wasm instance of its own (two i64 limbs, plus four pending
 * updates that `add` copies and sums together), reused by the next accumulator after `finish`.
 * `addAll` takes a whole round at once, block by block, at about the speed of batch FedAvg.
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
import {
  checkWeight,
  ExactWeightSum,
  FixedPointSum,
  MAX_TERM,
  MAX_UPDATES,
} from "./fixed_point_sum.ts";
import {
  type AggregateResult,
  type ClientUpdate,
  compareIds,
  type RejectedUpdate,
} from "./strategy.ts";

export { MAX_TERM, MAX_UPDATES };

/**
 * Returns why an update cannot be added, or undefined when it is usable (plain TypeScript: the
 * reference for the wasm scan, and the message when that scan rejects an update).
 */
export function checkUpdate(update: ClientUpdate, length: number): string | undefined {
  const { delta, numSamples: n } = update;
  if (delta.length !== length) return `length ${delta.length} != ${length}`;
  const weight = checkWeight(n);
  if (weight !== undefined) return weight;
  let max = 0;
  for (let j = 0; j < delta.length; j++) {
    const a = Math.abs(delta[j]!);
    if (!(a <= max)) {
      if (a !== a || a === Infinity) return "non-finite values";
      max = a;
    }
  }
  if (max * n >= MAX_TERM) return `numSamples * |delta| ${max * n} >= 2^28`;
  return undefined;
}

/** Order-independent streaming weighted mean of deltas; memory O(params). */
export class StreamingFedAvg {
  /** Parameters per update. */
  readonly length: number;
  #sum: FixedPointSum | undefined;
  #samples = new ExactWeightSum();
  #seen = new Set<string>();
  #accepted: string[] = [];
  #rejected: RejectedUpdate[] = [];
  #duplicates = 0;

  /** Creates an accumulator for deltas of `length` parameters. */
  constructor(length: number) {
    if (!Number.isInteger(length) || length <= 0) {
      throw new RangeError(`Cannot create accumulator: length ${length} is not a positive integer`);
    }
    this.length = length;
    this.#sum = new FixedPointSum(length);
  }

  /** Updates counted so far. */
  get count(): number {
    return this.#accepted.length;
  }

  /** Sum of numSamples of counted updates (exact for integer counts). */
  get totalSamples(): number {
    return this.#samples.value;
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
    const sum = this.#live("add update");
    if (this.#seen.has(update.nodeId)) {
      this.#duplicates++;
      return false;
    }
    if (!this.#admit(update)) return false;
    if (sum.add(update.delta, update.numSamples) !== undefined) {
      this.#reject(update, checkUpdate(update, this.length));
      return false;
    }
    this.#count(update);
    return true;
  }

  /** Shape and weight checks (values are checked by the sum); records a reject. */
  #admit(update: ClientUpdate): boolean {
    const { delta, numSamples } = update;
    const reason = delta.length !== this.length
      ? `length ${delta.length} != ${this.length}`
      : checkWeight(numSamples);
    if (reason !== undefined) {
      this.#reject(update, reason);
      return false;
    }
    if (this.#accepted.length >= MAX_UPDATES) {
      throw new RangeError(`Cannot add update: more than ${MAX_UPDATES} updates; use clusters`);
    }
    return true;
  }

  #reject(update: ClientUpdate, reason = "rejected by the exact sum"): void {
    this.#rejected.push({ nodeId: update.nodeId, reason });
  }

  #count(update: ClientUpdate): void {
    this.#seen.add(update.nodeId);
    this.#samples.add(update.numSamples);
    this.#accepted.push(update.nodeId);
  }

  /**
   * `add` of each update in turn, with the same results bit for bit, but block by block over all
   * of them (each update read once; about the speed of batch FedAvg). Returns how many counted.
   */
  addAll(updates: readonly ClientUpdate[]): number {
    const sum = this.#live("add updates");
    let counted = 0;
    for (let from = 0; from < updates.length;) {
      // A run of distinct new nodeIds; a repeat starts the next run, as sequential adds would.
      const run: ClientUpdate[] = [];
      const ids = new Set<string>();
      for (; from < updates.length && !ids.has(updates[from]!.nodeId); from++) {
        const u = updates[from]!;
        ids.add(u.nodeId);
        if (this.#seen.has(u.nodeId)) this.#duplicates++;
        else if (this.#admit(u)) run.push(u);
      }
      const invalid = sum.addAll(run.map((u) => u.delta), run.map((u) => u.numSamples));
      run.forEach((u, i) => {
        if (invalid.has(i)) this.#reject(u, checkUpdate(u, this.length));
        else {
          this.#count(u);
          counted++;
        }
      });
    }
    return counted;
  }

  /**
   * Adds another accumulator's exact partial sums (a cluster aggregator's state); the result
   * equals adding the other's updates here directly, bit for bit.
   */
  merge(other: StreamingFedAvg): void {
    const sum = this.#live("merge");
    if (other.length !== this.length) {
      throw new RangeError(`Cannot merge: length ${other.length} != ${this.length}`);
    }
    for (const id of other.#accepted) {
      if (this.#seen.has(id)) throw new RangeError(`Cannot merge: node ${id} counted twice`);
    }
    if (this.count + other.count > MAX_UPDATES) {
      throw new RangeError(`Cannot merge: more than ${MAX_UPDATES} updates`);
    }
    sum.merge(other.#live("merge"));
    this.#samples.merge(other.#samples);
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
    const sum = this.#live("finish");
    if (this.count === 0) {
      throw new RangeError(`Cannot aggregate: no valid update (${this.#rejected.length} rejected)`);
    }
    const delta = sum.divide(this.totalSamples);
    sum.release();
    this.#sum = undefined;
    return {
      delta,
      accepted: [...this.#accepted].sort(compareIds),
      rejected: [...this.#rejected].sort((a, b) => compareIds(a.nodeId, b.nodeId)),
    };
  }

  #live(action: string): FixedPointSum {
    if (!this.#sum) throw new Error(`Cannot ${action}: accumulator already finished`);
    return this.#sum;
  }
}
