/**
 * Weighted federated averaging (McMahan et al. 2017): `sum(n_i * d_i) / sum(n_i)`.
 *
 * Reproducibility: validators recompute the aggregate and compare digests, so the bytes must
 * not depend on the order updates arrived in. The default `"exact"` accumulation rounds every
 * term once to a fixed grid and sums integers (fixed_point_sum.ts: definition and error bound,
 * at most 2^-65 per term), in wasm SIMD a block of coordinates at a time, so each update is read
 * once: order-independent by construction and bit-identical to `StreamingFedAvg` and to
 * hierarchical aggregation with exact merging, so an aggregator may stream while a validator
 * recomputes in batch. `"sorted-f64"` is the plain scheme (sort by nodeId, Float64 running sum,
 * one rounding to f32): also reproducible, much slower, and it differs from the exact result in
 * the last bit now and then.
 *
 * Duplicates in one batch: byte-identical copies of a node's update count once (a retried
 * upload); conflicting copies are all rejected, a choice that does not depend on order.
 *
 * @example
 * ```ts
 * import { FedAvg } from "./fed_avg.ts";
 * const result = new FedAvg().aggregate([
 *   { nodeId: "0xa", delta: new Float32Array([1, 2, 3]), numSamples: 1 },
 *   { nodeId: "0xb", delta: new Float32Array([2, 0, -1]), numSamples: 2 },
 *   { nodeId: "0xc", delta: new Float32Array([0, 4, 1]), numSamples: 1 },
 * ]);
 * console.log(result.delta); // Float32Array [1.25, 1.5, 0.5]
 * ```
 *
 * @module
 */
import {
  type AggregateResult,
  type ClientUpdate,
  compareIds,
  type RejectedUpdate,
  type Strategy,
} from "./strategy.ts";
import { exactWeightedMean } from "./exact_weighted_mean.ts";
import { checkWeight, MAX_UPDATES } from "./fixed_point_sum.ts";
import { checkUpdate } from "./streaming_fed_avg.ts";

/** How FedAvg sums: exact fixed-point (default) or Float64 in nodeId order. */
export type Accumulation = "exact" | "sorted-f64";

/** Options of {@link FedAvg}. */
export interface FedAvgOptions {
  /** Summation scheme; default "exact" (bit-identical to StreamingFedAvg). */
  accumulation?: Accumulation;
}

/** Weighted mean of deltas by numSamples. */
export class FedAvg implements Strategy {
  readonly name = "fedavg";
  readonly accumulation: Accumulation;

  constructor(options: FedAvgOptions = {}) {
    this.accumulation = options.accumulation ?? "exact";
  }

  /** Combines the round's updates; throws RangeError when none is usable. */
  aggregate(updates: readonly ClientUpdate[]): AggregateResult {
    if (updates.length === 0) throw new RangeError("Cannot aggregate: no updates");
    const length = updates[0]!.delta.length;
    const { unique, rejected } = dedupeUpdates(updates);
    if (this.accumulation === "exact") return exactFedAvg(unique, length, rejected);
    const valid: ClientUpdate[] = [];
    for (const u of unique) {
      const reason = checkUpdate(u, length);
      if (reason === undefined) valid.push(u);
      else rejected.push({ nodeId: u.nodeId, reason });
    }
    rejected.sort((a, b) => compareIds(a.nodeId, b.nodeId));
    if (valid.length === 0) {
      throw new RangeError(`Cannot aggregate: no valid update (${rejected.length} rejected)`);
    }
    return { delta: sortedF64Mean(valid, length), accepted: valid.map((u) => u.nodeId), rejected };
  }
}

/** The exact path: shapes and weights checked here, values inside the wasm pass. */
function exactFedAvg(
  unique: readonly ClientUpdate[],
  length: number,
  rejected: RejectedUpdate[],
): AggregateResult {
  const candidates: ClientUpdate[] = [];
  for (const u of unique) {
    const reason = u.delta.length !== length
      ? `length ${u.delta.length} != ${length}`
      : checkWeight(u.numSamples);
    if (reason === undefined) candidates.push(u);
    else rejected.push({ nodeId: u.nodeId, reason });
  }
  if (candidates.length > MAX_UPDATES) {
    throw new RangeError(`Cannot aggregate: more than ${MAX_UPDATES} updates; use clusters`);
  }
  const noneValid = () =>
    new RangeError(`Cannot aggregate: no valid update (${rejected.length} rejected)`);
  if (candidates.length === 0) throw noneValid();
  const { mean, invalid } = exactWeightedMean(
    candidates.map((u) => u.delta),
    candidates.map((u) => u.numSamples),
  );
  for (const i of invalid.keys()) {
    const u = candidates[i]!;
    rejected.push({ nodeId: u.nodeId, reason: checkUpdate(u, length) ?? "rejected by the sum" });
  }
  rejected.sort((a, b) => compareIds(a.nodeId, b.nodeId));
  if (mean === undefined) throw noneValid();
  return {
    delta: mean,
    accepted: candidates.filter((_, i) => !invalid.has(i)).map((u) => u.nodeId),
    rejected,
  };
}

/** Float64 weighted mean in the given (sorted) order, rounded once to f32. */
function sortedF64Mean(valid: readonly ClientUpdate[], length: number): Float32Array {
  const sum = new Float64Array(length);
  let total = 0;
  for (const u of valid) {
    const n = u.numSamples, d = u.delta;
    total += n;
    for (let j = 0; j < length; j++) sum[j] = sum[j]! + n * d[j]!;
  }
  const out = new Float32Array(length);
  for (let j = 0; j < length; j++) out[j] = sum[j]! / total;
  return out;
}

/** Sorts by nodeId; identical copies collapse, conflicting copies are all rejected. */
export function dedupeUpdates(updates: readonly ClientUpdate[]): {
  unique: ClientUpdate[];
  rejected: RejectedUpdate[];
} {
  const sorted = [...updates].sort((a, b) => compareIds(a.nodeId, b.nodeId));
  const unique: ClientUpdate[] = [];
  const rejected: RejectedUpdate[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i + 1;
    let conflict = false;
    while (j < sorted.length && sorted[j]!.nodeId === sorted[i]!.nodeId) {
      if (!sameUpdate(sorted[i]!, sorted[j]!)) conflict = true;
      j++;
    }
    if (conflict) {
      rejected.push({ nodeId: sorted[i]!.nodeId, reason: `${j - i} conflicting updates` });
    } else unique.push(sorted[i]!);
    i = j;
  }
  return { unique, rejected };
}

function sameUpdate(a: ClientUpdate, b: ClientUpdate): boolean {
  if (a.numSamples !== b.numSamples || a.delta.length !== b.delta.length) return false;
  const x = new Uint32Array(a.delta.buffer, a.delta.byteOffset, a.delta.length);
  const y = new Uint32Array(b.delta.buffer, b.delta.byteOffset, b.delta.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

export { compareIds };
