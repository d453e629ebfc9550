/**
 * The aggregation kernels on several threads over one shared memory (the threads build,
 * lib/strategy/wasm/aggregate_threads.wasm): the calling thread plus `threads - 1` Web Workers,
 * each with its own instance of the module. An op is split into blocks of coordinates that the
 * threads claim from a shared ticket until none is left; every block touches only its own
 * coordinates of the limbs, so the result does not depend on which thread ran which block or in
 * what order (the sums are integer, lib/strategy/fixed_point_sum.ts).
 *
 * Ops are synchronous: the caller blocks in Atomics.wait until the workers have finished (Deno
 * allows this on the main thread); workers sleep in Atomics.wait between ops.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import {
  type AggregateExports,
  BLOCK,
  FINITE_LIMIT,
  HI_UNITS,
  MAX_TERM,
  padded,
  SG,
  SH,
} from "./_aggregate_wasm.ts";

/** Control slots (Int32). TICKET = generation << 20 | next unclaimed block. */
export const CTRL = { GEN: 0, TICKET: 1, BLOCKS: 2, DONE: 3, ERROR: 4, QUIT: 5, SLOTS: 8 };
/** Argument slots (Float64) of an op. */
export const ARG = {
  OP: 0,
  SLOTS: 1,
  STRIDE: 2,
  WEIGHTS: 3,
  COUNT: 4,
  ACC: 5,
  LENGTH: 6,
  MAX_BITS: 7,
  FLAGS: 8,
  OUT: 9,
  TOTAL: 10,
  CARRY: 11,
  SCAN: 12,
  CAPACITY: 13,
  SNAPSHOT: 14,
  MAX_WEIGHT: 15,
  ZERO: 16,
  THEN_FINALIZE: 17,
  SIZE: 24,
};
/** Deposit (optionally scanning and clearing bad blocks first) or finalize, per block. */
export const OP = { DEPOSIT: 0, FINALIZE: 1 };
/** Bytes of one thread's snapshot of a block of limbs. */
export const SNAPSHOT_BYTES = BLOCK * 16;
/** Per-slot flags a scan raises (OR-ed over blocks). */
export const FLAG = { NON_FINITE: 1, OUT_OF_RANGE: 2 };
const GEN_MASK = 0x7ff;
const INDEX_MASK = 0xfffff;
/** Most blocks one op splits into. */
export const MAX_BLOCKS = INDEX_MASK;

/** What a worker receives at start (_aggregate_thread_worker.ts). */
export interface AggregateThreadInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: Int32Array;
  args: Float64Array;
  index: number;
}

/** URL of the committed threads build. */
export const AGGREGATE_THREADS_WASM_URL = new URL(
  "./wasm/aggregate_threads.wasm",
  import.meta.url,
);

let compiled: WebAssembly.Module | undefined;

/** Typed views of the shared memory (valid after the last grow). */
interface Views {
  u8: Uint8Array;
  f32: Float32Array;
  u32: Uint32Array;
  i32: Int32Array;
  f64: Float64Array;
}

const viewsOf = (memory: WebAssembly.Memory): Views => ({
  u8: new Uint8Array(memory.buffer),
  f32: new Float32Array(memory.buffer),
  u32: new Uint32Array(memory.buffer),
  i32: new Int32Array(memory.buffer),
  f64: new Float64Array(memory.buffer),
});

const BITS = new Uint32Array(1);
const AS_F32 = new Float32Array(BITS.buffer);

/**
 * Runs block `b` of the op in `args` (the same code on every thread). DEPOSIT: carries (when
 * CARRY), then deposits all slots into the block's limbs. With SCAN, the deposit's own bound on
 * the values decides: when no value can be non-finite or make a term >= MAX_TERM under the
 * heaviest weight (the usual case: one read of the slots), that is all; otherwise the limbs are
 * restored from a snapshot taken before, each slot's block is scanned, the block of a slot with
 * a bad value is flagged and zeroed (a zero block adds exactly 0), and the deposit runs again.
 * ZERO: the limbs start from zero (the first pass after a reset zeroes each block while it is
 * in cache instead of the whole sum beforehand). THEN_FINALIZE: the block's means are written
 * right after its deposit (the last pass and the division in one read of the limbs).
 * FINALIZE: limbs -> f32 means of the block.
 */
export function runBlock(
  k: AggregateExports,
  v: Views,
  args: Float64Array,
  thread: number,
  b: number,
): void {
  const start = b * BLOCK;
  const len = Math.min(BLOCK, args[ARG.LENGTH]! - start);
  const plen = padded(len);
  const acc = args[ARG.ACC]! + start * 16;
  if (args[ARG.OP] === OP.FINALIZE) {
    k.finalize(acc, args[ARG.OUT]! + start * 4, plen, args[ARG.TOTAL]!);
    return;
  }
  const slots = args[ARG.SLOTS]! + start * 4;
  const stride = args[ARG.STRIDE]!;
  const count = args[ARG.COUNT]!;
  const weights = args[ARG.WEIGHTS]!;
  const zero = args[ARG.ZERO] === 1;
  if (zero) v.u8.fill(0, acc, acc + plen * 16);
  else if (args[ARG.CARRY]) k.carry(acc, plen);
  if (!args[ARG.SCAN]) {
    k.deposit(acc, slots, stride, weights, count, plen, SH, SG);
    return finishBlock(k, args, acc, start, plen);
  }
  const snapshot = args[ARG.SNAPSHOT]! + thread * SNAPSHOT_BYTES;
  if (!zero) v.u8.copyWithin(snapshot, acc, acc + plen * 16);
  BITS[0] = k.deposit(acc, slots, stride, weights, count, plen, SH, SG);
  if (BITS[0] < FINITE_LIMIT && args[ARG.MAX_WEIGHT]! * AS_F32[0]! < MAX_TERM) {
    return finishBlock(k, args, acc, start, plen);
  }
  if (zero) v.u8.fill(0, acc, acc + plen * 16);
  else v.u8.copyWithin(acc, snapshot, snapshot + plen * 16);
  const maxBits = args[ARG.MAX_BITS]! + thread * args[ARG.CAPACITY]! * 4;
  k.scanMaxBits(slots, stride, count, plen, maxBits);
  for (let s = 0; s < count; s++) {
    const bits = v.u32[(maxBits >> 2) + s]!;
    BITS[0] = bits;
    const w = v.f64[(weights >> 3) + s]! / HI_UNITS;
    const flag = bits >= FINITE_LIMIT
      ? FLAG.NON_FINITE
      : w * AS_F32[0]! >= MAX_TERM
      ? FLAG.OUT_OF_RANGE
      : 0;
    if (flag === 0) continue;
    Atomics.or(v.i32, (args[ARG.FLAGS]! >> 2) + s, flag);
    const from = (slots + s * stride) >> 2;
    v.f32.fill(0, from, from + plen);
  }
  k.deposit(acc, slots, stride, weights, count, plen, SH, SG);
  finishBlock(k, args, acc, start, plen);
}

function finishBlock(
  k: AggregateExports,
  args: Float64Array,
  acc: number,
  start: number,
  plen: number,
): void {
  if (args[ARG.THEN_FINALIZE]) k.finalize(acc, args[ARG.OUT]! + start * 4, plen, args[ARG.TOTAL]!);
}

/** Claims and runs blocks of generation `gen` until none is left. */
export function runClaims(
  k: AggregateExports,
  v: Views,
  ctrl: Int32Array,
  args: Float64Array,
  thread: number,
  gen: number,
): void {
  for (;;) {
    const t = Atomics.load(ctrl, CTRL.TICKET);
    if (t >>> 20 !== gen) return;
    const i = t & INDEX_MASK;
    const n = Atomics.load(ctrl, CTRL.BLOCKS);
    if (i >= n) return;
    if (Atomics.compareExchange(ctrl, CTRL.TICKET, t, t + 1) !== t) continue;
    try {
      runBlock(k, v, args, thread, i);
    } catch {
      Atomics.store(ctrl, CTRL.ERROR, 1);
    }
    if (Atomics.add(ctrl, CTRL.DONE, 1) + 1 === n) Atomics.notify(ctrl, CTRL.DONE);
  }
}

/** Views of a worker's memory (it never grows after the workers start). */
export { viewsOf };

/** One shared memory, the calling thread's instance, and the workers. */
export class AggregateThreads {
  readonly memory: WebAssembly.Memory;
  readonly kernels: AggregateExports;
  readonly threads: number;
  readonly args: Float64Array;
  /** Bytes below this are the module's own. */
  readonly base: number;
  #views: Views;
  readonly #ctrl: Int32Array;
  readonly #workers: Worker[];
  #gen = 0;
  #closed = false;

  private constructor(
    memory: WebAssembly.Memory,
    kernels: AggregateExports,
    ctrl: Int32Array,
    args: Float64Array,
    workers: Worker[],
    base: number,
  ) {
    this.memory = memory;
    this.kernels = kernels;
    this.threads = workers.length + 1;
    this.args = args;
    this.base = base;
    this.#views = viewsOf(memory);
    this.#ctrl = ctrl;
    this.#workers = workers;
  }

  /** Grows the shared memory to `bytes` (before any worker starts) and instantiates. */
  static async open(threads: number, bytes: (base: number) => number): Promise<AggregateThreads> {
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
      throw new RangeError(`Cannot start aggregation threads: ${threads} is not in [1, 64]`);
    }
    compiled ??= new WebAssembly.Module(readFileSync(AGGREGATE_THREADS_WASM_URL));
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    const kernels = new WebAssembly.Instance(compiled, { env: { memory } })
      .exports as unknown as AggregateExports;
    const base = memory.buffer.byteLength;
    const need = bytes(base);
    if (need > 65536 * 65536) {
      throw new RangeError(
        `Cannot lay out the sum: ${need} bytes exceed the 4 GiB of a wasm memory`,
      );
    }
    if (need > base) memory.grow(Math.ceil((need - base) / 65536));
    const ctrl = new Int32Array(new SharedArrayBuffer(CTRL.SLOTS * 4));
    const args = new Float64Array(new SharedArrayBuffer(ARG.SIZE * 8));
    const workers: Worker[] = [];
    try {
      for (let i = 1; i < threads; i++) {
        const worker = new Worker(new URL("./_aggregate_thread_worker.ts", import.meta.url), {
          type: "module",
        });
        workers.push(worker);
        await new Promise<void>((resolve, reject) => {
          worker.onmessage = () => resolve();
          worker.onerror = (e) => {
            e.preventDefault();
            reject(new Error(`Cannot start aggregation thread ${i}: ${e.message}`));
          };
          const init: AggregateThreadInit = { module: compiled!, memory, ctrl, args, index: i };
          worker.postMessage(init);
        });
      }
    } catch (error) {
      for (const w of workers) w.terminate();
      throw error;
    }
    return new AggregateThreads(memory, kernels, ctrl, args, workers, base);
  }

  /** Views of the whole memory. */
  get views(): Views {
    return this.#views;
  }

  /** Runs the op in `args` over `blocks` blocks on every thread; returns when all are done. */
  run(blocks: number): void {
    if (this.#closed) throw new Error("Cannot run: the aggregation threads were closed");
    if (blocks > MAX_BLOCKS) throw new RangeError(`Cannot run: ${blocks} blocks > ${MAX_BLOCKS}`);
    const ctrl = this.#ctrl;
    this.#gen = (this.#gen + 1) & GEN_MASK;
    Atomics.store(ctrl, CTRL.DONE, 0);
    Atomics.store(ctrl, CTRL.ERROR, 0);
    Atomics.store(ctrl, CTRL.BLOCKS, blocks);
    Atomics.store(ctrl, CTRL.TICKET, (this.#gen << 20) | 0);
    if (this.#workers.length > 0 && blocks > 1) {
      Atomics.store(ctrl, CTRL.GEN, this.#gen);
      Atomics.notify(ctrl, CTRL.GEN);
    }
    runClaims(this.kernels, this.#views, ctrl, this.args, 0, this.#gen);
    for (let done; (done = Atomics.load(ctrl, CTRL.DONE)) < blocks;) {
      Atomics.wait(ctrl, CTRL.DONE, done, 100);
    }
    if (Atomics.load(ctrl, CTRL.ERROR)) throw new Error("Cannot aggregate: a block failed");
  }

  /** Stops the workers; the memory is left to the garbage collector. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#ctrl, CTRL.QUIT, 1);
    Atomics.add(this.#ctrl, CTRL.GEN, 1);
    Atomics.notify(this.#ctrl, CTRL.GEN);
    for (const w of this.#workers) w.terminate();
  }
}
