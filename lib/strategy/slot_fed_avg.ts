/**
 * StreamingFedAvg's contract (duplicates ignored, invalid updates rejected with a reason, the
 * same bytes for any arrival order) over a {@link SlotSum}: the caller may decode each update
 * straight into {@link SlotFedAvg.slot} (no copy in; lib/round/update_stream.ts does), and the
 * sum runs on every core. Bit-identical to StreamingFedAvg for the same updates (both are the
 * exact sum of fixed_point_sum.ts), so a coordinator may use either.
 *
 * @example
 * ```ts
 * import { SlotFedAvg } from "./slot_fed_avg.ts";
 * const avg = await SlotFedAvg.open(2, { threads: 1 });
 * avg.slot().set([1, 2]); // decoded in place
 * avg.add({ nodeId: "0xa", delta: avg.slot(), numSamples: 1 });
 * avg.add({ nodeId: "0xb", delta: new Float32Array([3, 4]), numSamples: 3 }); // copied in
 * console.log(avg.finish().delta); // Float32Array [2.5, 3.5]
 * ```
 *
 * @module
 */
import { checkWeight } from "./fixed_point_sum.ts";
import { SlotSum, type SlotSumOptions } from "./slot_sum.ts";
import {
  type AggregateResult,
  type ClientUpdate,
  compareIds,
  type RejectedUpdate,
} from "./strategy.ts";

const REASON = {
  "non-finite": "non-finite values",
  "out-of-range": "numSamples * |delta| >= 2^28",
} as const;

/** Order-independent weighted mean of deltas decoded into an exact {@link SlotSum}. */
export class SlotFedAvg {
  /** Parameters per update. */
  readonly length: number;
  readonly #sum: SlotSum;
  readonly #ids: string[] = [];
  readonly #seen = new Set<string>();
  readonly #rejected: RejectedUpdate[] = [];
  #duplicates = 0;
  #done = false;

  private constructor(sum: SlotSum) {
    this.#sum = sum;
    this.length = sum.length;
  }

  /** An empty mean of deltas of `length` parameters (starts the sum's threads). */
  static async open(length: number, options: SlotSumOptions = {}): Promise<SlotFedAvg> {
    return new SlotFedAvg(await SlotSum.open(length, options));
  }

  /** Where to decode the next update; pass that view as the update's delta to {@link add}. */
  slot(): Float32Array {
    this.#live("hand out a slot");
    return this.#sum.slot();
  }

  /** Adds ignored because their nodeId was already added. */
  get duplicates(): number {
    return this.#duplicates;
  }

  /**
   * Counts one update (its delta is the slot's view or is copied into the slot). False when its
   * nodeId was already added (ignored) or its shape or weight is unusable (rejected); values
   * are checked when its pass runs, and an update found unusable then is rejected in `finish`.
   */
  add(update: ClientUpdate): boolean {
    this.#live("add update");
    if (this.#seen.has(update.nodeId)) {
      this.#duplicates++;
      return false;
    }
    const { delta, numSamples } = update;
    const reason = delta.length !== this.length
      ? `length ${delta.length} != ${this.length}`
      : checkWeight(numSamples);
    if (reason !== undefined) {
      this.#rejected.push({ nodeId: update.nodeId, reason });
      return false;
    }
    const slot = this.#sum.slot();
    if (delta.buffer !== slot.buffer || delta.byteOffset !== slot.byteOffset) slot.set(delta);
    this.#seen.add(update.nodeId);
    this.#ids[this.#sum.commit(numSamples)] = update.nodeId;
    return true;
  }

  /** The mean and who counted; releases the sum. */
  finish(): AggregateResult {
    this.#live("finish");
    this.#done = true;
    try {
      const { mean, invalid } = this.#sum.mean();
      const rejected = [...this.#rejected];
      for (const [index, problem] of invalid) {
        rejected.push({ nodeId: this.#ids[index]!, reason: REASON[problem] });
      }
      if (!mean) {
        throw new RangeError(`Cannot aggregate: no valid update (${rejected.length} rejected)`);
      }
      return {
        delta: mean,
        accepted: this.#ids.filter((_, i) => !invalid.has(i)).sort(compareIds),
        rejected: rejected.sort((a, b) => compareIds(a.nodeId, b.nodeId)),
      };
    } finally {
      this.#sum.close();
    }
  }

  /** Stops the sum's threads without a result (a round abandoned part-way). */
  close(): void {
    this.#done = true;
    this.#sum.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #live(action: string): void {
    if (this.#done) throw new Error(`Cannot ${action}: accumulator already finished`);
  }
}
