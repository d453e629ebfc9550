/**
 * Loads the aggregation kernels (lib/strategy/wasm/, built into the committed aggregate.wasm by
 * scripts/build_aggregate.ts) and hands out {@link Workspace}s: one kernel instance each, its
 * memory laid out once (it never grows afterwards, so the typed views stay valid).
 *
 * The kernels read wasm memory only, so every update is copied in a block at a time (a slot per
 * update) while the block is small enough to stay in cache for the kernel that follows.
 *
 * @module
 */
import { readFileSync } from "node:fs";

/** Largest accepted |weight * value| of a term of an exact sum (exclusive). */
export const MAX_TERM = 2 ** 28;
/** Coordinates per block: a block of every update in a group fits in L2 with its limbs. */
export const BLOCK = 4096;
/** Updates the batch kernels read per pass over a block of limbs. */
export const GROUP = 16;
/** Deposits between carries: 4096 terms of |lo| <= 2^49 keep lo below 2^62. */
export const CARRY_EVERY = 4096;
/** Slots per deposit call: the kernel sums hi parts (< 2^42) in f64 below 2^51. */
const DEPOSIT_SLOTS = 256;
// The deposit kernel works in units of the hi grid 2^-14 (weights are passed times 2^14): its
// magic constants round to 1 (hi, summed) and to 2^-50 (lo: 2^-64 in units of 2^-14).
export const HI_UNITS = 2 ** 14;
export const SH = 1.5 * 2 ** 52;
export const SG = 1.5 * 2 ** 2;
export const FINITE_LIMIT = 0x7f800000; // f32 bits of Infinity with the sign cleared
const PAGE = 65536;

/** Why a vector cannot enter an exact sum. */
export type TermError = "non-finite" | "out-of-range";

/** `len` rounded up to the kernels' unit of 8 coordinates. */
export const padded = (len: number): number => (len + 7) & ~7;

/** The functions exported by lib/strategy/wasm/index.ts. Pointers are byte offsets. */
export interface AggregateExports {
  memory: WebAssembly.Memory;
  scanMaxBits(slots: number, stride: number, count: number, len: number, out: number): void;
  deposit(
    ...a: [number, number, number, number, number, number, number, number]
  ): number;
  carry(acc: number, len: number): void;
  addLimbs(acc: number, src: number, len: number): void;
  finalize(acc: number, out: number, len: number, total: number): void;
  sortColumns(slots: number, stride: number, count: number, len: number): void;
  medianColumns(out: number, slots: number, stride: number, count: number, len: number): void;
  windowLows(...a: [number, number, number, number, number, number]): void;
  maskWindows(...a: [number, number, number, number, number, number]): void;
  squaredDistances(...a: [number, number, number, number, number, number]): void;
}

/** URL of the committed binary. */
export const AGGREGATE_WASM_URL = new URL("./wasm/aggregate.wasm", import.meta.url);

let compiled: WebAssembly.Module | undefined;

function aggregateModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(readFileSync(AGGREGATE_WASM_URL));
  return compiled;
}

const BITS = new Uint32Array(1);
const AS_F32 = new Float32Array(BITS.buffer);

/** Layout of a {@link Workspace}. */
export interface WorkspaceLayout {
  /** Slots of values (one per update staged at once). */
  slots: number;
  /** Floats per slot. */
  slotFloats: number;
  /** Coordinates of limbs (16 bytes each). */
  accCoordinates: number;
  /** Further buffers, in bytes (pointers in `extras`, same order). */
  extraBytes?: number[];
}

/** One kernel instance: slots of values, weights, per-slot maxima, an output block, limbs. */
export class Workspace {
  readonly kernels: AggregateExports;
  /** Slot 0; slot k starts `stride` bytes after slot k - 1. */
  readonly slots: number;
  readonly stride: number;
  readonly weights: number;
  readonly maxBits: number;
  readonly out: number;
  readonly acc: number;
  readonly accBytes: number;
  readonly extras: number[];
  /** Key of the layout, for reuse ({@link acquireWorkspace}). */
  readonly key: string;
  readonly f32: Float32Array;
  readonly f64: Float64Array;
  readonly #u32: Uint32Array;

  constructor(layout: WorkspaceLayout) {
    this.key = JSON.stringify(layout);
    const instance = new WebAssembly.Instance(aggregateModule(), {});
    this.kernels = instance.exports as unknown as AggregateExports;
    let top = this.kernels.memory.buffer.byteLength; // the module's own data stays below
    const alloc = (bytes: number) => {
      const ptr = Math.ceil(top / 64) * 64;
      top = ptr + bytes;
      return ptr;
    };
    this.stride = layout.slotFloats * 4 + 64; // the pad keeps slots off 4 KiB aliasing
    this.slots = alloc(Math.max(layout.slots * this.stride, BLOCK * 16));
    this.weights = alloc(layout.slots * 8);
    this.maxBits = alloc(layout.slots * 4);
    this.out = alloc(BLOCK * 4);
    this.accBytes = layout.accCoordinates * 16;
    this.acc = alloc(this.accBytes);
    this.extras = (layout.extraBytes ?? []).map(alloc);
    const memory = this.kernels.memory;
    const have = memory.buffer.byteLength;
    if (top > have) memory.grow(Math.ceil((top - have) / PAGE));
    this.f32 = new Float32Array(memory.buffer);
    this.f64 = new Float64Array(memory.buffer);
    this.#u32 = new Uint32Array(memory.buffer);
  }

  /** Copies `values[start, start + len)` to slot `slot` at float `at`, zero-padded to 8. */
  load(slot: number, at: number, values: Float32Array, start: number, len: number): void {
    const to = ((this.slots + slot * this.stride) >> 2) + at;
    this.f32.set(values.subarray(start, start + len), to);
    if (len & 7) this.f32.fill(0, to + len, to + padded(len));
  }

  setWeight(slot: number, w: number): void {
    this.f64[(this.weights >> 3) + slot] = w * HI_UNITS; // exact: a power of two
  }

  /** Max |value| of `count` slots from float `at` on, into maxBits[0, count). */
  scan(at: number, count: number, len: number): void {
    this.kernels.scanMaxBits(this.slots + at * 4, this.stride, count, padded(len), this.maxBits);
  }

  /**
   * Stages block [start, start + len) of `vectors[indices[s]]` in slot s at float `at`, with its
   * weight, and scans it: the problem of each (undefined: usable). `scan: false` skips the scan
   * (for a deposit that checks its bound) and returns [].
   */
  stage(
    at: number,
    vectors: readonly Float32Array[],
    weights: readonly number[],
    indices: readonly number[],
    start: number,
    len: number,
    scan = true,
  ): (TermError | undefined)[] {
    indices.forEach((i, s) => {
      this.load(s, at, vectors[i]!, start, len);
      this.setWeight(s, weights[i]!);
    });
    if (!scan) return [];
    this.scan(at, indices.length, len);
    return indices.map((i, s) => this.problem(s, weights[i]!));
  }

  /** Zeroes block [at, at + len) of slot `slot` and its weight: it then adds exactly 0. */
  clearSlot(slot: number, at: number, len: number): void {
    const from = ((this.slots + slot * this.stride) >> 2) + at;
    this.f32.fill(0, from, from + padded(len));
    this.setWeight(slot, 0);
  }

  /** After a scan: undefined or the problem of scanned slot `k` under weight `w`. */
  problem(k: number, w: number): TermError | undefined {
    const bits = this.#u32[(this.maxBits >> 2) + k]!;
    if (bits >= FINITE_LIMIT) return "non-finite";
    BITS[0] = bits;
    return w * AS_F32[0]! >= MAX_TERM ? "out-of-range" : undefined;
  }

  /**
   * Exactly adds `count` slots from slot `first`, float `at` on, weighted, to limbs at `acc`.
   * Returns f32 bits bounding every |value| added from above (>= FINITE_LIMIT: some value may
   * be Inf or NaN), for {@link Workspace.suspect}.
   */
  deposit(acc: number, at: number, count: number, len: number, first = 0): number {
    let bits = 0;
    for (let s = first; s < first + count; s += DEPOSIT_SLOTS) {
      const n = Math.min(DEPOSIT_SLOTS, first + count - s);
      const from = this.slots + s * this.stride + at * 4;
      const w = this.weights + s * 8;
      bits |= this.kernels.deposit(acc, from, this.stride, w, n, padded(len), SH, SG);
    }
    return bits;
  }

  /** Whether a deposit's bound `bits` leaves room for a bad value under weights up to `w`. */
  suspect(bits: number, w: number): boolean {
    if (bits >= FINITE_LIMIT) return true;
    BITS[0] = bits;
    return w * AS_F32[0]! >= MAX_TERM;
  }

  /** Finalizes `len` coordinates of limbs at `acc` into `into[start...]`. */
  finalize(acc: number, len: number, total: number, into: Float32Array, start: number): void {
    this.kernels.finalize(acc, this.out, padded(len), total);
    this.copyOut(len, into, start);
  }

  /** Copies `len` floats of the output block to `into[start...]`. */
  copyOut(len: number, into: Float32Array, start: number): void {
    into.set(this.f32.subarray(this.out >> 2, (this.out >> 2) + len), start);
  }

  zero(ptr: number, bytes: number): void {
    new Uint8Array(this.kernels.memory.buffer, ptr, bytes).fill(0);
  }
}

const idle = new Map<string, Workspace[]>();
let idleBytes = 0;
/** Idle workspaces kept for reuse: fresh wasm memory costs a page fault per 4 KiB. */
const IDLE_LIMIT = 2 ** 28;

/** A workspace of `layout` with zeroed limbs: a released one when available, else a new one. */
export function acquireWorkspace(layout: WorkspaceLayout): Workspace {
  const key = JSON.stringify(layout);
  const ws = idle.get(key)?.pop();
  if (!ws) return new Workspace(layout);
  idleBytes -= ws.kernels.memory.buffer.byteLength;
  ws.zero(ws.acc, ws.accBytes);
  return ws;
}

/** Hands a workspace back for reuse; the caller must not touch it afterwards. */
export function releaseWorkspace(ws: Workspace): void {
  const bytes = ws.kernels.memory.buffer.byteLength;
  if (idleBytes + bytes > IDLE_LIMIT) return; // left to the garbage collector
  idleBytes += bytes;
  const list = idle.get(ws.key) ?? [];
  list.push(ws);
  idle.set(ws.key, list);
}
