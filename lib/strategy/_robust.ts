/**
 * Shared plumbing of the robust strategies (median, trimmed mean, Krum, Bulyan, norm
 * clipping, FedBuff): validation, a canonical order, and plain-TypeScript kernels. Median,
 * trimmed mean, Krum and Bulyan run their kernels in wasm (_columns.ts) and check values there
 * ({@link prepareShapes} + {@link dropInvalid}); `coordinateWise` and `squaredDistances` stay as
 * the readable references those kernels are tested against.
 *
 * Order independence: validators recompute aggregates and compare digests, so every
 * strategy sorts updates by nodeId before doing any floating-point work, and breaks score
 * ties by nodeId.
 *
 * @module
 */
import type { TermError } from "./_aggregate_wasm.ts";
import { type ClientUpdate, compareIds, partitionValid, type RejectedUpdate } from "./strategy.ts";

/** Validated updates in nodeId order, the rejects, and the model length used. */
export interface Prepared {
  valid: ClientUpdate[];
  rejected: RejectedUpdate[];
  length: number;
}

/**
 * Validates `updates` against `length` (default: the most common delta length, ties to the
 * smaller, so one malformed update cannot decide the shape), drops nodes that sent
 * conflicting copies (byte-identical copies count once), and sorts by nodeId.
 *
 * @throws {RangeError} when no update is usable
 */
export function prepareUpdates(
  updates: readonly ClientUpdate[],
  strategy: string,
  length?: number,
): Prepared {
  return prepare(updates, strategy, length, partitionValid);
}

/**
 * {@link prepareUpdates} without reading the values (length, numSamples, duplicates, order):
 * for the rules whose wasm pass checks values as it reads them (_columns.ts); finish with
 * {@link dropInvalid}.
 *
 * @throws {RangeError} when no update is usable
 */
export function prepareShapes(
  updates: readonly ClientUpdate[],
  strategy: string,
  length?: number,
): Prepared {
  return prepare(updates, strategy, length, partitionShapes);
}

/**
 * Moves `prepared.valid[i]` for every index in `invalid` (found by a wasm pass) to the rejects,
 * keeping both lists in nodeId order.
 *
 * @throws {RangeError} when no update is left
 */
export function dropInvalid(
  prepared: Prepared,
  invalid: ReadonlyMap<number, TermError>,
  strategy: string,
): Prepared {
  if (invalid.size === 0) return prepared;
  const rejected = [...prepared.rejected];
  for (const [i, problem] of invalid) {
    const reason = problem === "non-finite" ? "non-finite values" : "|delta| >= 2^28";
    rejected.push({ nodeId: prepared.valid[i]!.nodeId, reason });
  }
  rejected.sort((a, b) => compareIds(a.nodeId, b.nodeId));
  const valid = prepared.valid.filter((_, i) => !invalid.has(i));
  if (valid.length === 0) {
    throw new RangeError(`Cannot aggregate with ${strategy}: no usable update`);
  }
  return { valid, rejected, length: prepared.length };
}

/** Length and numSamples checks of partitionValid, without the value scan. */
function partitionShapes(
  updates: readonly ClientUpdate[],
  length: number,
): { valid: ClientUpdate[]; rejected: RejectedUpdate[] } {
  const valid: ClientUpdate[] = [];
  const rejected: RejectedUpdate[] = [];
  for (const u of updates) {
    if (u.delta.length !== length) {
      rejected.push({ nodeId: u.nodeId, reason: `length ${u.delta.length} != ${length}` });
    } else if (!(u.numSamples > 0) || !Number.isFinite(u.numSamples)) {
      rejected.push({ nodeId: u.nodeId, reason: `numSamples ${u.numSamples} not positive` });
    } else valid.push(u);
  }
  return { valid, rejected };
}

function prepare(
  updates: readonly ClientUpdate[],
  strategy: string,
  length: number | undefined,
  partition: typeof partitionValid,
): Prepared {
  if (updates.length === 0) throw new RangeError(`Cannot aggregate with ${strategy}: no updates`);
  const len = length ?? modeLength(updates);
  const { valid, rejected } = partition(updates, len);
  const byId = new Map<string, ClientUpdate[]>();
  for (const u of valid) byId.set(u.nodeId, [...(byId.get(u.nodeId) ?? []), u]);
  const kept: ClientUpdate[] = [];
  for (const [nodeId, copies] of byId) {
    const first = copies[0]!;
    if (
      copies.every((c) => c.numSamples === first.numSamples && sameValues(c.delta, first.delta))
    ) {
      kept.push(first);
    } else {
      rejected.push({ nodeId, reason: `${copies.length} conflicting updates from one node` });
    }
  }
  kept.sort((a, b) => compareIds(a.nodeId, b.nodeId));
  rejected.sort((a, b) => compareIds(a.nodeId, b.nodeId));
  if (kept.length === 0) {
    throw new RangeError(
      `Cannot aggregate with ${strategy}: none of ${updates.length} updates is usable`,
    );
  }
  return { valid: kept, rejected, length: len };
}

export { compareIds };

/** `sum(w_i d_i) / sum(w_i)` in Float64, in the given order. */
export function weightedMean(
  updates: readonly ClientUpdate[],
  weights: readonly number[],
  length: number,
): Float32Array {
  const acc = new Float64Array(length);
  let total = 0;
  updates.forEach((u, j) => {
    const w = weights[j]!;
    total += w;
    const d = u.delta;
    for (let i = 0; i < length; i++) acc[i]! += w * d[i]!;
  });
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = acc[i]! / total;
  return out;
}

/** Symmetric matrix (row-major, n x n) of squared L2 distances between deltas. */
export function squaredDistances(updates: readonly ClientUpdate[]): Float64Array {
  const n = updates.length;
  const dist = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    const x = updates[a]!.delta;
    for (let b = a + 1; b < n; b++) {
      const y = updates[b]!.delta;
      let s = 0;
      for (let i = 0; i < x.length; i++) {
        const t = x[i]! - y[i]!;
        s += t * t;
      }
      dist[a * n + b] = s;
      dist[b * n + a] = s;
    }
  }
  return dist;
}

/**
 * Applies `reduce` to each coordinate's values sorted ascending (a Float64Array of n
 * values, reused between coordinates) and collects the results.
 */
export function coordinateWise(
  updates: readonly ClientUpdate[],
  length: number,
  reduce: (sorted: Float64Array) => number,
): Float32Array {
  const n = updates.length;
  const deltas = updates.map((u) => u.delta);
  const col = new Float64Array(n);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    // insertion sort: n is small (tens of clients) and the column is rebuilt each time
    for (let j = 0; j < n; j++) {
      const v = deltas[j]![i]!;
      let k = j - 1;
      while (k >= 0 && col[k]! > v) {
        col[k + 1] = col[k]!;
        k--;
      }
      col[k + 1] = v;
    }
    out[i] = reduce(col);
  }
  return out;
}

/** Median of an ascending array (mean of the middle two for even length). */
export function sortedMedian(sorted: Float64Array): number {
  const n = sorted.length;
  const h = n >> 1;
  return n % 2 === 1 ? sorted[h]! : (sorted[h - 1]! + sorted[h]!) / 2;
}

/** Median of plain numbers (copies). */
export function median(values: readonly number[]): number {
  return sortedMedian(Float64Array.from(values).sort());
}

/** L2 norm in Float64. */
export function norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

function modeLength(updates: readonly ClientUpdate[]): number {
  const counts = new Map<number, number>();
  for (const u of updates) counts.set(u.delta.length, (counts.get(u.delta.length) ?? 0) + 1);
  let best = -1;
  let bestCount = 0;
  for (const [len, c] of counts) {
    if (c > bestCount || (c === bestCount && len < best)) {
      best = len;
      bestCount = c;
    }
  }
  return best;
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}
