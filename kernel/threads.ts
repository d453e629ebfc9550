/**
 * The kernel on every core, bit-identical to one core. One instance of kernel_threads.wasm per
 * thread (the calling thread plus `threads - 1` Web Workers), all over one shared memory. The
 * returned kernel is used exactly like a single-thread one; its ops (kernel/parallel.ts) split
 * each call into independent output blocks (BLOCKS_PER_THREAD per thread), which the threads,
 * the calling one included, claim from a shared counter until none is left; the call returns
 * when all are done. Block boundaries depend only on the op and the block count and blocks are
 * independent, so a step gives the same bytes for any thread count and any claiming order:
 *
 * ```ts
 * import { loadThreadedKernel } from "./kernel/threads.ts";
 * import { createTrainer } from "./kernel/train_step.ts";
 * const kernel = await loadThreadedKernel({ threads: navigator.hardwareConcurrency });
 * const { trainStep } = createTrainer(kernel); // same API and same bytes as loadKernel()
 * // ... trainStep(...) ...
 * kernel.close(); // stops the workers
 * ```
 *
 * Ops are synchronous: the calling thread blocks in Atomics.wait until the workers finish (Deno
 * allows this on the main thread). Workers spin briefly, then sleep, between ops.
 */
import {
  BLOCKS_PER_THREAD,
  MIN_PARALLEL_WORK,
  PARALLEL_NAMES,
  PARALLEL_OPS,
  runPart,
} from "./parallel.ts";
import { Kernel, KERNEL_THREADS_WASM_URL, type KernelExports } from "./wasm_module.ts";

/**
 * Control block (Int32 slots). GEN: generation of the op in flight (11 bits, wrapping), what
 * sleeping workers wait on. TICKET: generation << 20 | blocks << 10 | next unclaimed block, so a
 * claim (compare-exchange) sees the block count of the same op it claims from; once a thread
 * holds a block the op cannot complete, so the op code and arguments it reads next are stable.
 * DONE: blocks finished. SCRATCH_*: where each thread's scratch is (ptr + index * stride), with
 * a version workers compare against the one they applied.
 */
export const CTRL = {
  GEN: 0,
  OP: 1,
  ERROR: 2,
  TICKET: 3,
  DONE: 4,
  SCRATCH_PTR: 5,
  SCRATCH_STRIDE: 6,
  SCRATCH_VERSION: 7,
  SLOTS: 16,
} as const;
/** Op code that stops a worker's loop. */
export const QUIT = -1;
/** Most arguments an op takes. */
export const MAX_ARGS = 16;
/** Iterations of a busy-wait before sleeping in Atomics.wait (a few us: spinning longer steals the
 * core from the other thread when the OS gives us fewer cores than threads). */
export const SPIN = 2000;
const GEN_MASK = 0x7ff;
const FIELD = 0x3ff; // blocks and next: 10 bits each
/** Most blocks one op splits into. */
export const MAX_BLOCKS = FIELD;

/** What a worker receives at start (kernel/thread_worker.ts). */
export interface ThreadInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: Int32Array;
  args: Float64Array;
  index: number;
  count: number;
}

export interface ThreadOptions {
  /** Threads including the calling one (default navigator.hardwareConcurrency). */
  threads?: number;
  /** The threads build of the kernel (default the committed kernel_threads.wasm). */
  path?: string | URL;
  /**
   * Work (elements or multiply-adds) below which an op stays on the calling thread (default
   * MIN_PARALLEL_WORK). Tests pass 0 so that every op, however small, is split.
   */
  minWork?: number;
}

/** A kernel whose ops run on `threads` threads; call `close()` when done with it. */
export class ThreadedKernel extends Kernel {
  readonly #threads: number;
  readonly #workers: Worker[];
  readonly #ctrl: Int32Array;
  readonly #main: KernelExports;

  constructor(
    ops: KernelExports,
    main: KernelExports,
    threads: number,
    workers: Worker[],
    ctrl: Int32Array,
  ) {
    super(ops);
    this.#main = main;
    this.#threads = threads;
    this.#workers = workers;
    this.#ctrl = ctrl;
  }

  override get threads(): number {
    return this.#threads;
  }

  override useScratch(ptr: number, bytesPerThread: number): void {
    this.#main.setScratch(ptr); // the calling thread is thread 0
    Atomics.store(this.#ctrl, CTRL.SCRATCH_PTR, ptr | 0);
    Atomics.store(this.#ctrl, CTRL.SCRATCH_STRIDE, bytesPerThread | 0);
    Atomics.add(this.#ctrl, CTRL.SCRATCH_VERSION, 1);
  }

  /** Stops the workers; the kernel must not be used afterwards. */
  close(): void {
    Atomics.store(this.#ctrl, CTRL.OP, QUIT);
    Atomics.store(this.#ctrl, CTRL.TICKET, 0);
    Atomics.store(this.#ctrl, CTRL.GEN, (Atomics.load(this.#ctrl, CTRL.GEN) + 1) & GEN_MASK);
    Atomics.notify(this.#ctrl, CTRL.GEN);
    for (const w of this.#workers) w.terminate();
    this.#workers.length = 0;
  }
}

/** Blocks until slot `i` of `ctrl` differs from `value`: spins first, then sleeps. */
export function waitWhile(ctrl: Int32Array, i: number, value: number): number {
  for (let s = 0; s < SPIN; s++) {
    const v = Atomics.load(ctrl, i);
    if (v !== value) return v;
  }
  for (;;) {
    Atomics.wait(ctrl, i, value);
    const v = Atomics.load(ctrl, i);
    if (v !== value) return v;
  }
}

/**
 * Claims and runs blocks of the op in flight until none is left; called by every thread, the
 * caller included. `beforeBlock` runs after each claim (a worker applies a new scratch there).
 */
export function runBlocks(
  ops: KernelExports,
  ctrl: Int32Array,
  args: Float64Array,
  beforeBlock: () => void = () => {},
): void {
  for (;;) {
    const t = Atomics.load(ctrl, CTRL.TICKET);
    const blocks = (t >>> 10) & FIELD, next = t & FIELD;
    if (next >= blocks) return;
    if (Atomics.compareExchange(ctrl, CTRL.TICKET, t, t + 1) !== t) continue;
    try {
      beforeBlock();
      runPart(ops, Atomics.load(ctrl, CTRL.OP), args, next, blocks);
    } catch (err) {
      Atomics.store(ctrl, CTRL.ERROR, 1);
      console.error(`kernel thread block ${next}/${blocks}:`, err);
    }
    if (Atomics.add(ctrl, CTRL.DONE, 1) + 1 === blocks) Atomics.notify(ctrl, CTRL.DONE);
  }
}

/** The dispatching ops: parallel ones fan out to the workers, the others run here. */
function parallelOps(
  main: KernelExports,
  threads: number,
  minWork: number,
  ctrl: Int32Array,
  args: Float64Array,
): KernelExports {
  const ops: Record<string, unknown> = { ...main };
  const blocks = Math.min(MAX_BLOCKS, threads * BLOCKS_PER_THREAD);
  PARALLEL_NAMES.forEach((name, code) => {
    const op = PARALLEL_OPS[name]!;
    ops[name] = (...a: number[]) => {
      if (threads === 1 || op.work(...a) < minWork) {
        op.part({ o: main, j: 0, n: 1 }, ...a);
        return;
      }
      // The previous op is complete and its ticket exhausted: nobody reads these now.
      args.set(a);
      Atomics.store(ctrl, CTRL.OP, code);
      Atomics.store(ctrl, CTRL.DONE, 0);
      const gen = (Atomics.load(ctrl, CTRL.GEN) + 1) & GEN_MASK;
      Atomics.store(ctrl, CTRL.TICKET, (gen << 20) | (blocks << 10));
      Atomics.store(ctrl, CTRL.GEN, gen);
      Atomics.notify(ctrl, CTRL.GEN);
      runBlocks(main, ctrl, args);
      let done = Atomics.load(ctrl, CTRL.DONE);
      while (done !== blocks) done = waitWhile(ctrl, CTRL.DONE, done);
      if (Atomics.exchange(ctrl, CTRL.ERROR, 0) !== 0) {
        throw new Error(`Cannot run ${name}: a kernel thread failed (see the error above)`);
      }
    };
  });
  return ops as unknown as KernelExports;
}

/**
 * Instantiates the threads build once per thread over one shared memory (max 4 GiB) and returns
 * a kernel whose ops split across them. threads = 1 starts no worker.
 */
export async function loadThreadedKernel(options: ThreadOptions = {}): Promise<ThreadedKernel> {
  const threads = options.threads ?? navigator.hardwareConcurrency;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`Cannot start kernel threads: bad thread count ${threads}`);
  }
  const bytes = await Deno.readFile(options.path ?? KERNEL_THREADS_WASM_URL);
  const module = new WebAssembly.Module(bytes);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  const main = new WebAssembly.Instance(module, { env: { memory } })
    .exports as unknown as KernelExports;
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL.SLOTS * 4));
  const args = new Float64Array(new SharedArrayBuffer(MAX_ARGS * 8));
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: threads - 1 }, (_, i) => {
        const worker = new Worker(new URL("./thread_worker.ts", import.meta.url), {
          type: "module",
        });
        workers.push(worker);
        return new Promise<void>((resolve, reject) => {
          worker.onmessage = (e) => {
            if (e.data === "ready") resolve();
            else console.error(`kernel worker ${i + 1}: ${e.data}`);
          };
          worker.onerror = (e) => {
            e.preventDefault();
            reject(new Error(`Cannot start kernel worker ${i + 1}: ${e.message}`));
          };
          const init: ThreadInit = { module, memory, ctrl, args, index: i + 1, count: threads };
          worker.postMessage(init);
        });
      }),
    );
  } catch (err) {
    for (const w of workers) w.terminate();
    throw err;
  }
  const ops = parallelOps(main, threads, options.minWork ?? MIN_PARALLEL_WORK, ctrl, args);
  return new ThreadedKernel(ops, main, threads, workers, ctrl);
}
