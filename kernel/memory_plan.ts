/**
 * The memory a training step takes, exactly as the kernel allocates it: the network and trainer
 * are built against a sizing kernel whose allocator only counts (no memory, no compute), so the
 * figure follows every buffer network.ts and offload.ts allocate, alignment included. Measured
 * against process RSS by `deno task bench:kernel --ladder`.
 *
 * ```ts
 * const plan = planStepMemory(hyper, { threads: 2, offload: true });
 * plan.linearBytes; // WASM linear memory of the workspace
 * plan.hostBytes;   // weights, gradient and optimiser state outside it
 * ```
 */
import { createNetwork } from "./network.ts";
import { STAGE_CHUNK } from "./offload.ts";
import { paramLayout } from "./params.ts";
import type { Hyper } from "./train_step.ts";
import { Kernel, type KernelExports } from "./wasm_module.ts";

const ALIGN = 64;
const PAGE = 65536;

/** kernel/wasm/matmul.ts gemmScratchBytes (MR 4, NR 8), for planning without an instance. */
function gemmScratchBytes(M: number, K: number): number {
  const mPad = Math.ceil(M / 4) * 4;
  return (mPad * K + K * 8 + mPad * 8) * 4;
}

/** A kernel whose allocator counts bytes and touches no memory; its ops must not be called. */
class SizingKernel extends Kernel {
  #top = PAGE;
  readonly #threads: number;

  constructor(threads: number) {
    const memory = { buffer: { byteLength: PAGE } } as unknown as WebAssembly.Memory;
    super({ memory, gemmScratchBytes } as unknown as KernelExports);
    this.#threads = threads;
  }
  override get threads(): number {
    return this.#threads;
  }
  override alloc(count: number): number {
    const ptr = this.#top;
    this.#top = Math.ceil((ptr + count * 4) / ALIGN) * ALIGN;
    return ptr;
  }
  override mark(): number {
    return this.#top;
  }
  override release(mark: number): void {
    this.#top = mark;
  }
  override get bytesInUse(): number {
    return this.#top - PAGE;
  }
}

export interface MemoryPlanOptions {
  /** Kernel threads (each has its own GEMM scratch; default 1). */
  threads?: number;
  /** The offload trainer (kernel/offload.ts) rather than the resident createTrainer. */
  offload?: boolean;
  /** Activation recomputation (default: on with offload, off without). */
  recompute?: boolean;
  /** Staging chunk of the offload trainer (default STAGE_CHUNK). */
  chunk?: number;
}

export interface MemoryPlan {
  params: number;
  /** Bytes of WASM linear memory the trainer's workspace takes. */
  linearBytes: number;
  /**
   * Bytes of host arrays a step holds: with offload the weights, gradient and optimiser state
   * (4 bytes each per parameter); resident, the step's input and output copies of them.
   */
  hostBytes: number;
  total: number;
}

/** Planned memory of one training step of `hyper`. */
export function planStepMemory(hyper: Hyper, options: MemoryPlanOptions = {}): MemoryPlan {
  const layout = paramLayout(hyper.model);
  const P = layout.size;
  const offload = options.offload ?? false;
  const states = hyper.optimizer.kind === "adamw" ? 2 : 1;
  const k = new SizingKernel(options.threads ?? 1);
  const noop = () => {};
  createNetwork(k, layout, hyper.B, hyper.T, hyper.dropout ?? 0, {
    recompute: options.recompute ?? offload,
    offload: offload ? { loadParams: noop, loadGrads: noop, storeGrads: noop } : undefined,
  });
  let hostBytes: number;
  if (offload) {
    const chunk = options.chunk ?? STAGE_CHUNK;
    for (let i = 0; i < 2 + states; i++) k.alloc(chunk); // staged params, grads, m [, v]
    hostBytes = (2 + states) * P * 4;
  } else {
    k.alloc(P); // m and v in the workspace (train_step.ts allocates both for either optimiser)
    k.alloc(P);
    // In: weights, m [, v]; out: fresh weights, grad, m [, v].
    hostBytes = (1 + states + 2 + states) * P * 4;
  }
  const linearBytes = k.bytesInUse;
  return { params: P, linearBytes, hostBytes, total: linearBytes + hostBytes };
}
