/**
 * Exact FedAvg with the updates decoded straight into the sum's own memory, on every core.
 *
 * Why: a {@link FixedPointSum} must first copy each update into wasm memory, and that copy alone
 * costs as much as reading the update (a memcpy), so it cannot run at memory speed. Here the
 * caller asks for a slot, a `Float32Array` view inside the (shared) wasm memory, decodes the
 * update into it (the decode writes every value once anyway), and commits it with its weight.
 * When the slots are full they are summed in one pass, block by block, by the calling thread and
 * `threads - 1` workers, each block of coordinates by one thread.
 *
 * Same arithmetic as fixed_point_sum.ts (definition, error bound, limits): every term rounded
 * once to 2^-64 and summed as integers, so the result is bit-identical to FixedPointSum (and so
 * to StreamingFedAvg and batch FedAvg) for the same accepted updates, for any thread count,
 * slot count and commit order. An update with a non-finite value or a term >= MAX_TERM is left
 * out exactly: the offending blocks are zeroed before the deposit and the rest withdrawn with the
 * negated weight (integer addition: the limbs return to the same values), and it is reported by
 * its commit index ("non-finite" wins when both problems occur).
 *
 * Memory: `slots` updates of 4 bytes per coordinate plus 20 bytes per coordinate of limbs and
 * output, in one shared wasm memory (4 GiB at most: about 170M coordinates with one slot).
 *
 * @example
 * ```ts
 * import { SlotSum } from "./slot_sum.ts";
 * const sum = await SlotSum.open(3, { threads: 1 });
 * sum.slot().set([1, 2, 3]);
 * sum.commit(1);
 * sum.slot().set([3, 2, 1]);
 * sum.commit(3);
 * console.log(sum.mean().mean); // Float32Array [2.5, 2, 1.5]
 * sum.close();
 * ```
 *
 * @module
 */
import { AggregateThreads, ARG, FLAG, OP, SNAPSHOT_BYTES } from "./_aggregate_threads.ts";
import { BLOCK, CARRY_EVERY, HI_UNITS, padded, type TermError } from "./_aggregate_wasm.ts";
import { checkWeight, ExactWeightSum, MAX_UPDATES } from "./fixed_point_sum.ts";

/** Most slots one pass sums (the deposit kernel's f64 hi sum stays exact below 256). */
export const MAX_SLOTS = 256;

/** Options of {@link SlotSum.open}. */
export interface SlotSumOptions {
  /**
   * Updates held before one summing pass (default: 16, fewer when 16 would take over 1 GiB):
   * more slots, fewer passes over the limbs.
   */
  slots?: number;
  /** Threads including the calling one (default min(2, navigator.hardwareConcurrency)). */
  threads?: number;
}

/** What {@link SlotSum.mean} returns. */
export interface SlotMean {
  /** Weighted mean of the accepted updates; undefined when none was accepted. */
  mean: Float32Array | undefined;
  /** Exact sum of the accepted weights. */
  total: number;
  /** Commit index -> problem of every update left out. */
  invalid: Map<number, TermError>;
}

/** A running exact weighted sum whose updates are decoded into its slots (module doc). */
export class SlotSum {
  /** Coordinates per update. */
  readonly length: number;
  /** Slots summed per pass. */
  readonly capacity: number;
  readonly #pool: AggregateThreads;
  readonly #slots: number;
  readonly #stride: number;
  readonly #weights: number;
  readonly #flags: number;
  readonly #acc: number;
  readonly #out: number;
  readonly #blocks: number;
  /** Commit index of each filled slot. */
  #pending: number[] = [];
  #weightOf = new Map<number, number>();
  #invalid = new Map<number, TermError>();
  #commits = 0;
  #sinceCarry = 0;
  /** The limbs are to be zeroed by the next pass (after a reset). */
  #fresh = false;
  #closed = false;

  private constructor(length: number, capacity: number, pool: AggregateThreads) {
    this.length = length;
    this.capacity = capacity;
    this.#pool = pool;
    const l = layout(length, capacity, pool.threads, pool.base);
    this.#slots = l.slots;
    this.#stride = l.stride;
    this.#weights = l.weights;
    this.#flags = l.flags;
    this.#acc = l.acc;
    this.#out = l.out;
    this.#blocks = Math.ceil(length / BLOCK);
    const a = pool.args;
    a[ARG.STRIDE] = l.stride;
    a[ARG.ACC] = l.acc;
    a[ARG.LENGTH] = length;
    a[ARG.MAX_BITS] = l.maxBits;
    a[ARG.FLAGS] = l.flags;
    a[ARG.OUT] = l.out;
    a[ARG.CAPACITY] = capacity;
    a[ARG.SNAPSHOT] = l.snapshot;
  }

  /** A zero sum of updates of `length` coordinates (starts its worker threads). */
  static async open(length: number, options: SlotSumOptions = {}): Promise<SlotSum> {
    if (!Number.isInteger(length) || length <= 0) {
      throw new RangeError(`Cannot create sum: length ${length} is not a positive integer`);
    }
    const capacity = options.slots ??
      Math.max(1, Math.min(16, Math.floor(2 ** 28 / padded(length))));
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_SLOTS) {
      throw new RangeError(`Cannot create sum: slots ${capacity} is not in [1, ${MAX_SLOTS}]`);
    }
    const threads = options.threads ?? Math.min(2, navigator.hardwareConcurrency || 1);
    const pool = await AggregateThreads.open(
      threads,
      (base) => layout(length, capacity, threads, base).end,
    );
    return new SlotSum(length, capacity, pool);
  }

  /** Threads summing (the calling one included). */
  get threads(): number {
    return this.#pool.threads;
  }

  /**
   * The next free slot: write the update's `length` values into it, then {@link commit}. The
   * same view until then; it must not be used after.
   */
  slot(): Float32Array {
    this.#live("hand out a slot");
    if (this.#pending.length === this.capacity) this.#flush();
    const at = (this.#slots + this.#pending.length * this.#stride) >> 2;
    return this.#pool.views.f32.subarray(at, at + this.length);
  }

  /**
   * Counts the slot's values with `weight` (numSamples); returns its commit index. Whether it is
   * usable is known once its pass ran (at the latest in {@link mean}); see `invalid`.
   *
   * @throws {RangeError} for a weight outside [2^-24, 2^32) or past MAX_UPDATES commits
   */
  commit(weight: number): number {
    this.#live("commit");
    const problem = checkWeight(weight);
    if (problem !== undefined) throw new RangeError(`Cannot commit: ${problem}`);
    if (this.#commits >= MAX_UPDATES) {
      throw new RangeError(`Cannot commit: more than ${MAX_UPDATES} updates; use clusters`);
    }
    if (this.#pending.length === this.capacity) this.#flush(); // committed without slot()
    const index = this.#commits++;
    this.#pool.views.f64[(this.#weights >> 3) + this.#pending.length] = weight * HI_UNITS;
    this.#pending.push(index);
    this.#weightOf.set(index, weight);
    return index; // a full set of slots is summed when the next slot or the mean is asked for
  }

  /** Commit index -> problem of each update left out so far (passes run so far). */
  get invalid(): ReadonlyMap<number, TermError> {
    return this.#invalid;
  }

  /**
   * `f32(sum / total)` of the accepted updates. The pending slots are summed and divided in one
   * pass over the limbs (a second pass only when that pass found an update unusable).
   */
  mean(): SlotMean {
    this.#live("average");
    const accepted = () => {
      const total = new ExactWeightSum();
      for (const [index, w] of this.#weightOf) if (!this.#invalid.has(index)) total.add(w);
      return total.value;
    };
    const none = () => this.#weightOf.size === this.#invalid.size;
    const a = this.#pool.args;
    let divided = false;
    if (this.#pending.length > 0) {
      // Assume every pending update is usable; a found bad one is withdrawn and we divide again.
      const before = this.#invalid.size;
      a[ARG.TOTAL] = accepted();
      this.#flush(true);
      divided = this.#invalid.size === before;
    }
    if (none()) return { mean: undefined, total: 0, invalid: new Map(this.#invalid) };
    const total = accepted();
    if (!divided) {
      a[ARG.OP] = OP.FINALIZE;
      a[ARG.TOTAL] = total;
      this.#pool.run(this.#blocks);
    }
    const from = this.#out >> 2;
    const mean = this.#pool.views.f32.slice(from, from + this.length);
    return { mean, total, invalid: new Map(this.#invalid) };
  }

  /**
   * Back to a zero sum with no commits, keeping the threads and memory (a sum reused round after
   * round pays for neither again). Slots keep their contents until written.
   */
  reset(): void {
    this.#live("reset");
    this.#fresh = true; // the next pass zeroes each block of limbs as it goes
    this.#pending = [];
    this.#weightOf.clear();
    this.#invalid.clear();
    this.#commits = 0;
    this.#sinceCarry = 0;
  }

  /** Stops the threads; the sum is unusable afterwards. */
  close(): void {
    this.#closed = true;
    this.#pool.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #live(what: string): void {
    if (this.#closed) throw new Error(`Cannot ${what}: the sum was closed`);
  }

  /** Sums the filled slots in one pass, then withdraws any found unusable. */
  #flush(thenFinalize = false): void {
    const count = this.#pending.length;
    if (count === 0) return;
    this.#deposit(this.#slots, this.#weights, count, true, thenFinalize);
    const flags = this.#pool.views.i32;
    const f64 = this.#pool.views.f64;
    this.#pending.forEach((index, s) => {
      const flag = flags[(this.#flags >> 2) + s]!;
      if (flag === 0) return;
      flags[(this.#flags >> 2) + s] = 0;
      this.#invalid.set(index, flag & FLAG.NON_FINITE ? "non-finite" : "out-of-range");
      // The bad blocks were zeroed before the deposit: withdrawing the slot as it is now
      // subtracts exactly what it added.
      const w = this.#weights + s * 8;
      f64[w >> 3] = -f64[w >> 3]!;
      this.#deposit(this.#slots + s * this.#stride, w, 1, false);
    });
    this.#pending = [];
  }

  #deposit(
    slots: number,
    weights: number,
    count: number,
    scan: boolean,
    thenFinalize = false,
  ): void {
    const a = this.#pool.args;
    a[ARG.ZERO] = this.#fresh ? 1 : 0;
    a[ARG.THEN_FINALIZE] = thenFinalize ? 1 : 0;
    this.#fresh = false;
    const carry = this.#sinceCarry + count > CARRY_EVERY;
    if (carry) this.#sinceCarry = 0;
    this.#sinceCarry += count;
    a[ARG.OP] = OP.DEPOSIT;
    a[ARG.SLOTS] = slots;
    a[ARG.WEIGHTS] = weights;
    a[ARG.COUNT] = count;
    a[ARG.SCAN] = scan ? 1 : 0;
    let heaviest = 0;
    for (let s = 0; s < count; s++) {
      heaviest = Math.max(heaviest, this.#pool.views.f64[(weights >> 3) + s]! / HI_UNITS);
    }
    a[ARG.MAX_WEIGHT] = heaviest;
    a[ARG.CARRY] = carry ? 1 : 0;
    this.#pool.run(this.#blocks);
  }
}

/** Byte offsets in the shared memory, from `base` (the module's own data lies below). */
function layout(length: number, capacity: number, threads: number, base: number) {
  let top = base;
  const alloc = (bytes: number) => {
    const ptr = Math.ceil(top / 64) * 64;
    top = ptr + bytes;
    return ptr;
  };
  const floats = padded(length);
  const stride = floats * 4 + 64; // the pad keeps slots off 4 KiB aliasing
  const slots = alloc(capacity * stride);
  const weights = alloc(capacity * 8);
  const maxBits = alloc(threads * capacity * 4);
  const flags = alloc(capacity * 4);
  const snapshot = alloc(threads * SNAPSHOT_BYTES);
  const acc = alloc(floats * 16);
  const out = alloc(floats * 4);
  return { stride, slots, weights, maxBits, flags, snapshot, acc, out, end: top };
}
