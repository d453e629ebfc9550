/**
 * Loads kernel.wasm and owns its linear memory through a bump allocator.
 *
 * Views are never cached across allocations: `memory.grow` detaches every existing
 * ArrayBuffer view, so callers keep byte pointers and ask for a fresh view when they need one.
 */
import { readFileSync } from "node:fs";

/** dinp, dalpha, db, dc, dd, dout, inp, h, alpha, b, c, d (pointers), then B, T, C. */
type SsmBackwardArgs = [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
];

/** params, grads, m, v (pointers), n, lr, beta1, beta2, eps, wd, bc1, bc2. */
type AdamwArgs = [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
];

/** The functions exported by kernel/wasm/index.ts. Pointers are byte offsets; flags are 0/1. */
export interface KernelExports {
  memory: WebAssembly.Memory;
  setScratch(ptr: number): void;
  dot4Naive(a: number, b: number, n: number): number;
  expScalar(x: number): number;
  gemmScratchBytes(M: number, K: number): number;
  gemm(
    ...a: [number, number, number, number, number, number, number, number, number, number]
  ): void;
  /** gemm's arguments, then the output rows [m0, m1) to compute. */
  gemmRows(
    ...a: [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ]
  ): void;
  gemmNaive(
    ...a: [number, number, number, number, number, number, number, number, number, number]
  ): void;
  matmulForward(...a: [number, number, number, number, number, number, number]): void;
  matmulForwardNaive(...a: [number, number, number, number, number, number, number]): void;
  matmulBackward(
    ...a: [number, number, number, number, number, number, number, number, number]
  ): void;
  matmulBackwardNaive(
    ...a: [number, number, number, number, number, number, number, number, number]
  ): void;
  biasGrad(dbias: number, dout: number, N: number, OC: number): void;
  biasGradCols(dbias: number, dout: number, N: number, OC: number, o0: number, o1: number): void;
  residualForward(out: number, a: number, b: number, N: number): void;
  residualForwardNaive(out: number, a: number, b: number, N: number): void;
  residualBackward(da: number, db: number, dout: number, N: number): void;
  residualBackwardNaive(da: number, db: number, dout: number, N: number): void;
  biasAddForward(out: number, inp: number, bias: number, N: number, C: number): void;
  biasAddForwardNaive(out: number, inp: number, bias: number, N: number, C: number): void;
  biasAddBackward(dinp: number, dbias: number, dout: number, N: number, C: number): void;
  biasAddBackwardNaive(dinp: number, dbias: number, dout: number, N: number, C: number): void;
  encoderForward(...a: [number, number, number, number, number, number, number]): void;
  encoderBackward(...a: [number, number, number, number, number, number, number]): void;
  encoderForwardNaive(...a: [number, number, number, number, number, number, number]): void;
  encoderBackwardNaive(...a: [number, number, number, number, number, number, number]): void;
  layernormForward(...a: [number, number, number, number, number, number, number, number]): void;
  layernormBackward(
    ...a: [number, number, number, number, number, number, number, number, number, number]
  ): void;
  /** dinp, dout, inp, weight, mean, rstd, N, C: layernormBackward's d(input) alone. */
  layernormBackwardInput(
    ...a: [number, number, number, number, number, number, number, number]
  ): void;
  /** dweight, dbias, dout, inp, mean, rstd, N, C, c0, c1: its d(weight), d(bias) on [c0, c1). */
  layernormBackwardParams(
    ...a: [number, number, number, number, number, number, number, number, number, number]
  ): void;
  layernormForwardNaive(
    ...a: [number, number, number, number, number, number, number, number]
  ): void;
  layernormBackwardNaive(
    ...a: [number, number, number, number, number, number, number, number, number, number]
  ): void;
  geluForward(out: number, inp: number, N: number): void;
  geluBackward(dinp: number, dout: number, inp: number, N: number): void;
  geluForwardNaive(out: number, inp: number, N: number): void;
  geluBackwardNaive(dinp: number, dout: number, inp: number, N: number): void;
  softmaxForward(out: number, inp: number, N: number, V: number): void;
  softmaxBackward(dinp: number, dout: number, out: number, N: number, V: number): void;
  softmaxForwardNaive(out: number, inp: number, N: number, V: number): void;
  softmaxBackwardNaive(dinp: number, dout: number, out: number, N: number, V: number): void;
  attentionForward(...a: [number, number, number, number, number, number, number]): void;
  attentionForwardNaive(...a: [number, number, number, number, number, number, number]): void;
  /** attentionForward's arguments, then the (batch, head) pairs [u0, u1). */
  attentionForwardHeads(
    ...a: [number, number, number, number, number, number, number, number, number]
  ): void;
  /** attentionBackward's arguments, then the (batch, head) pairs [u0, u1). */
  attentionBackwardHeads(
    ...a: [number, number, number, number, number, number, number, number, number, number]
  ): void;
  attentionBackward(...a: [number, number, number, number, number, number, number, number]): void;
  attentionBackwardNaive(
    ...a: [number, number, number, number, number, number, number, number]
  ): void;
  crossEntropyForward(...a: [number, number, number, number, number, number]): void;
  crossEntropyBackward(...a: [number, number, number, number, number, number]): void;
  crossEntropyForwardNaive(...a: [number, number, number, number, number, number]): void;
  crossEntropyBackwardNaive(...a: [number, number, number, number, number, number]): void;
  ssmForward(
    ...a: [number, number, number, number, number, number, number, number, number, number]
  ): void;
  ssmForwardNaive(
    ...a: [number, number, number, number, number, number, number, number, number, number]
  ): void;
  ssmBackward(...a: SsmBackwardArgs): void;
  ssmBackwardNaive(...a: SsmBackwardArgs): void;
  initNormal(out: number, n: number, seed: number, stream: number, std: number): void;
  dropoutForward(...a: [number, number, number, number, number, number, number]): void;
  dropoutBackward(dinp: number, dout: number, mask: number, N: number): void;
  dropoutBackwardNaive(dinp: number, dout: number, mask: number, N: number): void;
  adamwUpdate(...a: AdamwArgs): void;
  adamwUpdateNaive(...a: AdamwArgs): void;
  sgdMomentumUpdate(...a: [number, number, number, number, number, number, number]): void;
  sgdMomentumUpdateNaive(...a: [number, number, number, number, number, number, number]): void;
  sumSquares(p: number, n: number): number;
  sumSquaresFrom(p: number, n: number, s: number): number;
  fillZero(p: number, n: number): void;
  sumF64(p: number, n: number): number;
  scaleInPlace(p: number, n: number, s: number): void;
  scaleInPlaceNaive(p: number, n: number, s: number): void;
}

const PAGE = 65536;
const ALIGN = 64; // cache-line alignment keeps f32x4 loads aligned and rows from sharing lines

/** One kernel instance: the compiled module, its memory and a bump allocator over it. */
export class Kernel {
  readonly ops: KernelExports;
  #base: number;
  #top: number;

  constructor(ops: KernelExports) {
    this.ops = ops;
    this.#base = ops.memory.buffer.byteLength; // everything below belongs to the module itself
    this.#top = this.#base;
  }

  /** Reserves `count` 4-byte elements (zeroed on first use) and returns the byte pointer. */
  alloc(count: number): number {
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(`Cannot allocate: bad element count ${count}`);
    }
    const ptr = this.#top;
    const top = Math.ceil((ptr + count * 4) / ALIGN) * ALIGN;
    const have = this.ops.memory.buffer.byteLength;
    // Grow before moving the pointer: a failed grow then leaves the allocator as it was, so the
    // caller can release and go on. Moving it first left it past the end of memory, and every
    // later allocation, however small, failed until the process restarted.
    if (top > have) {
      try {
        this.ops.memory.grow(Math.ceil((top - have) / PAGE));
      } catch (cause) {
        throw new RangeError(
          `Cannot allocate: ${count * 4} more bytes do not fit in WASM memory (${have} bytes now)`,
          { cause },
        );
      }
    }
    this.#top = top;
    return ptr;
  }

  /** Threads an op runs on (1 here; kernel/threads.ts splits ops across more). */
  get threads(): number {
    return 1;
  }

  /**
   * Points the ops' scratch at `ptr`: `threads` regions of `bytesPerThread` each (thread j uses
   * ptr + j * bytesPerThread), so the caller allocates `threads * bytesPerThread` bytes.
   */
  useScratch(ptr: number, _bytesPerThread: number): void {
    this.ops.setScratch(ptr);
  }

  /** Current allocation mark, to release everything allocated after it with `release`. */
  mark(): number {
    return this.#top;
  }

  /** Frees everything above `mark`; the memory is kept for reuse, not zeroed. */
  release(mark: number): void {
    if (mark < this.#base || mark > this.#top) throw new RangeError(`Cannot release: bad mark`);
    this.#top = mark;
  }

  /** Bytes of linear memory in use by the allocator. */
  get bytesInUse(): number {
    return this.#top - this.#base;
  }

  /** A fresh f32 view (valid until the next allocation that grows memory). */
  f32(ptr: number, count: number): Float32Array {
    return new Float32Array(this.ops.memory.buffer, ptr, count);
  }

  /** A fresh i32 view (valid until the next allocation that grows memory). */
  i32(ptr: number, count: number): Int32Array {
    return new Int32Array(this.ops.memory.buffer, ptr, count);
  }

  /** Allocates and fills an f32 buffer with a copy of `data`. */
  fromF32(data: Float32Array): number {
    const ptr = this.alloc(data.length);
    this.f32(ptr, data.length).set(data);
    return ptr;
  }

  /** Allocates and fills an i32 buffer with a copy of `data`. */
  fromI32(data: Int32Array | number[]): number {
    const ptr = this.alloc(data.length);
    this.i32(ptr, data.length).set(data);
    return ptr;
  }
}

/** URL of the committed binary, next to this module. */
export const KERNEL_WASM_URL = new URL("./wasm/build/kernel.wasm", import.meta.url);

/** The same source built to import one shared memory (kernel/threads.ts). */
export const KERNEL_THREADS_WASM_URL = new URL(
  "./wasm/build/kernel_threads.wasm",
  import.meta.url,
);

export interface KernelOptions {
  /**
   * Run every op that has a naive scalar twin (`xNaive`) through that twin instead, except the
   * GEMM, whose twin is an unblocked triple loop meant for tests. The twins follow the same
   * reduction order, so results are bit-identical; only speed differs (bench/kernel.ts).
   */
  scalarOps?: boolean;
}

/** Ops whose naive twin is a test reference only, never a usable fallback for speed. */
const ALWAYS_SIMD = new Set(["gemm", "matmulForward", "matmulBackward"]);

function withScalarOps(exports: KernelExports): KernelExports {
  const ops: Record<string, unknown> = { ...exports };
  for (const name of Object.keys(ops)) {
    const naive = ops[`${name}Naive`];
    if (typeof naive === "function" && !ALWAYS_SIMD.has(name)) ops[name] = naive;
  }
  return ops as unknown as KernelExports;
}

/** Instantiates a kernel from wasm bytes (no imports: the module is self-contained). */
export function createKernel(bytes: Uint8Array, options: KernelOptions = {}): Kernel {
  const module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  const instance = new WebAssembly.Instance(module, {});
  const ops = instance.exports as unknown as KernelExports;
  return new Kernel(options.scalarOps ? withScalarOps(ops) : ops);
}

/** Reads the kernel binary (default: the committed one) and instantiates it. */
export function loadKernel(
  path: string | URL = KERNEL_WASM_URL,
  options: KernelOptions = {},
): Kernel {
  return createKernel(readFileSync(path), options);
}
