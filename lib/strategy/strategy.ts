/**
 * The aggregation interface every federated strategy implements (one strategy per file:
 * fed_avg.ts, fed_median.ts, krum.ts, ...). Strategies combine model *deltas*
 * (local weights - global weights of the round); the server then applies the combined delta,
 * directly (FedAvg) or through an outer optimizer (DiLoCo-style Nesterov).
 *
 * @module
 */

/** One client's contribution to a round. */
export interface ClientUpdate {
  /** Node id (0x-prefixed Ed25519 public key). */
  nodeId: string;
  /** local weights - global weights, flat, same layout as the model's parameter buffer. */
  delta: Float32Array;
  /** Training samples behind the delta (FedAvg weight n_i). */
  numSamples: number;
}

/** Why an update was left out. */
export interface RejectedUpdate {
  nodeId: string;
  reason: string;
}

/** What a strategy returns for a round. */
export interface AggregateResult {
  /** The combined delta. */
  delta: Float32Array;
  /** Node ids whose updates contributed. */
  accepted: string[];
  /** Node ids skipped (invalid shape, non-finite values, judged Byzantine, ...). */
  rejected: RejectedUpdate[];
}

/** A federated aggregation strategy. */
export interface Strategy {
  /** Short stable name used in job configuration ("fedavg", "median", "krum", ...). */
  readonly name: string;
  /** Combines the round's updates; throws RangeError when none is usable. */
  aggregate(updates: readonly ClientUpdate[]): AggregateResult;
}

/**
 * Splits updates into usable ones and rejects (wrong length, non-finite values, samples <= 0),
 * so every strategy skips and counts invalid updates the same way.
 */
export function partitionValid(
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
    } else if (!allFinite(u.delta)) {
      rejected.push({ nodeId: u.nodeId, reason: "non-finite values" });
    } else {
      valid.push(u);
    }
  }
  return { valid, rejected };
}

/** Whether every value is finite (a plain loop: `every` with a callback is ~10x slower). */
export function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) return false;
  }
  return true;
}

/** Orders node ids by code unit, so every strategy visits updates in the same order. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
