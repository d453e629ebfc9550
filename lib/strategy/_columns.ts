/**
 * The coordinate-wise robust rules in wasm (median, trimmed mean, Bulyan's window, Krum's
 * distances): every usable update's block of coordinates is staged in one workspace, checked by
 * the scan kernel, then handed to the rule's kernels; each update is read from memory once.
 *
 * Sums inside the rules (trimmed mean, Bulyan) are the exact fixed-point sums of
 * fixed_point_sum.ts with unit weights, so they are order-independent and within 2^-65 per term
 * of exact; the sorts are sorting networks on a total order, so their output is the sorted
 * multiset whatever order the updates come in.
 *
 * @module
 */
import {
  acquireWorkspace,
  BLOCK,
  CARRY_EVERY,
  padded,
  releaseWorkspace,
  type TermError,
  type Workspace,
} from "./_aggregate_wasm.ts";

/** One block of the staged updates: slot u holds coordinates [start, start + len) of update u. */
export interface ColumnBlock {
  ws: Workspace;
  start: number;
  len: number;
  /** Usable updates staged (slots 0..count-1, in the order given). */
  count: number;
  /** Whether this is the last block. */
  last: boolean;
}

/** A rule run block by block: `begin` makes fresh state for a set of usable updates. */
export interface ColumnPass<T> {
  /** Coordinates per block for `count` updates (default: about 1 MiB of slots). */
  floats?: (count: number) => number;
  /** Extra workspace buffers in bytes for `count` slots of `floats` floats. */
  extraBytes?: (count: number, floats: number) => number[];
  begin(ws: Workspace, usable: readonly number[]): T;
  block(state: T, block: ColumnBlock): void;
}

/** What {@link runColumns} returns. */
export interface ColumnRun<T> {
  /** State after the last block; undefined when no vector is usable. */
  state: T | undefined;
  usable: number[];
  /** Index -> why the vector was left out (non-finite, or some |value| >= 2^28). */
  invalid: Map<number, TermError>;
}

/** Floats per slot for `count` slots: about 1 MiB of slots (L2), 64 to BLOCK. */
function floatsFor(count: number): number {
  let floats = BLOCK;
  while (floats > 64 && floats * 4 * count > 2 ** 20) floats >>= 1;
  return floats;
}

/** A workspace of `count` slots of `floats` (from the pool; hand it back when done). */
function workspaceFor(count: number, floats: number, extraBytes: number[]): Workspace {
  return acquireWorkspace({ slots: count, slotFloats: floats, accCoordinates: floats, extraBytes });
}

/**
 * Runs `pass` over equal-length `vectors` (unit weight each), block by block. A vector found
 * unusable part-way is left out: every vector is then checked and the pass runs once more.
 */
export function runColumns<T>(
  vectors: readonly Float32Array[],
  pass: ColumnPass<T>,
): ColumnRun<T> {
  const invalid = new Map<number, TermError>();
  let usable = vectors.map((_, i) => i);
  let state = tryColumns(vectors, usable, pass, invalid);
  if (state === undefined && usable.length > 0) {
    usable = usable.filter((i) => !invalid.has(i));
    for (const i of usable) {
      const problem = scanVector(vectors[i]!);
      if (problem !== undefined) invalid.set(i, problem);
    }
    usable = usable.filter((i) => !invalid.has(i));
    state = usable.length > 0 ? tryColumns(vectors, usable, pass, invalid) : undefined;
  }
  return { state, usable, invalid };
}

function tryColumns<T>(
  vectors: readonly Float32Array[],
  usable: readonly number[],
  pass: ColumnPass<T>,
  invalid: Map<number, TermError>,
): T | undefined {
  const count = usable.length;
  const floats = pass.floats?.(count) ?? floatsFor(count);
  const ws = workspaceFor(count, floats, pass.extraBytes?.(count, floats) ?? []);
  try {
    const ones = vectors.map(() => 1);
    const state = pass.begin(ws, usable);
    const length = vectors[0]!.length;
    for (let start = 0; start < length; start += floats) {
      const len = Math.min(floats, length - start);
      const problems = ws.stage(0, vectors, ones, usable, start, len);
      problems.forEach((p, s) => p !== undefined && invalid.set(usable[s]!, p));
      if (problems.some((p) => p !== undefined)) return undefined;
      pass.block(state, { ws, start, len, count, last: start + len === length });
    }
    return state;
  } finally {
    releaseWorkspace(ws);
  }
}

function scanVector(values: Float32Array): TermError | undefined {
  const ws = workspaceFor(1, BLOCK, []);
  try {
    for (let start = 0; start < values.length; start += BLOCK) {
      const len = Math.min(BLOCK, values.length - start);
      const problem = ws.stage(0, [values], [1], [0], start, len)[0];
      if (problem !== undefined) return problem;
    }
    return undefined;
  } finally {
    releaseWorkspace(ws);
  }
}

/** Exact sum of slots [first, first + count) with unit weights into the zeroed limbs. */
function sumSlots(ws: Workspace, first: number, count: number, len: number): void {
  ws.zero(ws.acc, padded(len) * 16);
  for (let g = 0; g < count; g += CARRY_EVERY) {
    if (g > 0) ws.kernels.carry(ws.acc, padded(len));
    ws.deposit(ws.acc, 0, Math.min(CARRY_EVERY, count - g), len, first + g);
  }
}

/** Coordinate-wise median of `vectors` (the mean of the middle two for an even count). */
export function medianColumns(vectors: readonly Float32Array[]): ColumnRun<Float32Array> {
  const out = new Float32Array(vectors[0]!.length);
  return runColumns(vectors, {
    begin: () => out,
    block: (_, { ws, start, len, count }) => {
      ws.kernels.sortColumns(ws.slots, ws.stride, count, padded(len));
      ws.kernels.medianColumns(ws.out, ws.slots, ws.stride, count, padded(len));
      ws.copyOut(len, out, start);
    },
  });
}

/** Coordinate-wise mean of the sorted values [trim, count - trim), exact. */
export function trimmedMeanColumns(
  vectors: readonly Float32Array[],
  trimFor: (count: number) => number,
): ColumnRun<Float32Array> {
  const out = new Float32Array(vectors[0]!.length);
  let trim = 0;
  return runColumns(vectors, {
    begin: (_, usable) => {
      trim = trimFor(usable.length);
      return out;
    },
    block: (_, { ws, start, len, count }) => {
      ws.kernels.sortColumns(ws.slots, ws.stride, count, padded(len));
      sumSlots(ws, trim, count - 2 * trim, len);
      ws.finalize(ws.acc, len, count - 2 * trim, out, start);
    },
  });
}

/** Bulyan's coordinate step: mean of the `beta` sorted values closest to the median, exact. */
export function closestMeanColumns(
  vectors: readonly Float32Array[],
  beta: number,
): ColumnRun<Float32Array> {
  const out = new Float32Array(vectors[0]!.length);
  return runColumns(vectors, {
    extraBytes: (_, floats) => [floats * 4],
    begin: () => out,
    block: (_, { ws, start, len, count }) => {
      const k = ws.kernels;
      const lows = ws.extras[0]!;
      k.sortColumns(ws.slots, ws.stride, count, padded(len));
      k.windowLows(lows, ws.slots, ws.stride, count, beta, padded(len));
      k.maskWindows(ws.slots, ws.stride, count, lows, beta, padded(len));
      sumSlots(ws, 0, count, len);
      ws.finalize(ws.acc, len, beta, out, start);
    },
  });
}

/** Symmetric count x count matrix (row-major) of squared L2 distances, in f64. */
export function squaredDistanceMatrix(vectors: readonly Float32Array[]): ColumnRun<Float64Array> {
  return runColumns(vectors, {
    extraBytes: (count, floats) => [count * count * 8, count * floats * 8],
    begin: (ws, usable) => {
      ws.f64.fill(0, ws.extras[0]! >> 3, (ws.extras[0]! >> 3) + usable.length ** 2);
      return new Float64Array(usable.length ** 2);
    },
    block: (dist, { ws, len, count, last }) => {
      const [at, wide] = [ws.extras[0]!, ws.extras[1]!];
      ws.kernels.squaredDistances(at, wide, ws.slots, ws.stride, count, padded(len));
      if (!last) return;
      dist.set(ws.f64.subarray(at >> 3, (at >> 3) + count * count));
      for (let a = 0; a < count; a++) {
        for (let b = a + 1; b < count; b++) dist[b * count + a] = dist[a * count + b]!;
      }
    },
  });
}
