/**
 * Asynchronous buffered aggregation (FedBuff, Nguyen et al. 2022). Clients train against
 * whatever global version they last downloaded and upload whenever they finish; the server
 * buffers updates and, once `bufferSize` (K) are in, emits
 *
 *   Δ = Σ_i n_i s(τ_i) Δ_i / Σ_i n_i,   s(τ) = 1 / sqrt(1 + τ)
 *
 * where τ_i = (current version - version the client started from) is the staleness. With
 * equal n_i this is the paper's (1/K) Σ s(τ_i) Δ_i. The version advances on each emit. A
 * robust `inner` strategy may replace the weighted mean: it then receives the
 * staleness-scaled deltas.
 *
 * @module
 */
import {
  type AggregateResult,
  type ClientUpdate,
  partitionValid,
  type Strategy,
} from "./strategy.ts";
import { compareIds, weightedMean } from "./_robust.ts";

/** Polynomial staleness discount of FedBuff: `1 / sqrt(1 + tau)`. */
export function sqrtStaleness(tau: number): number {
  return 1 / Math.sqrt(1 + tau);
}

/** Options of {@link FedBuff}. */
export interface FedBuffOptions {
  /** Model length (number of parameters). */
  length: number;
  /** Updates per emitted aggregate, K (default 10). */
  bufferSize?: number;
  /** Updates staler than this many versions are refused (default Infinity). */
  maxStaleness?: number;
  /** Staleness discount s(τ) (default {@link sqrtStaleness}). */
  staleness?: (tau: number) => number;
  /** Strategy applied to the scaled deltas instead of the weighted mean. */
  inner?: Strategy;
}

/** What {@link FedBuff.submit} did with an update. */
export type SubmitOutcome =
  | { status: "buffered"; staleness: number }
  | { status: "rejected"; reason: string }
  | { status: "aggregated"; staleness: number; version: number; result: AggregateResult };

/**
 * The server side of FedBuff: a buffer of K staleness-weighted updates.
 *
 * @example
 * ```ts
 * import { FedBuff } from "./fed_buff.ts";
 * const buf = new FedBuff({ length: 1, bufferSize: 2 });
 * buf.submit({ nodeId: "0xa", delta: new Float32Array([2]), numSamples: 1 }, 0);
 * const out = buf.submit({ nodeId: "0xb", delta: new Float32Array([4]), numSamples: 1 }, 0);
 * console.assert(out.status === "aggregated" && out.result.delta[0] === 3 && buf.version === 1);
 * ```
 */
export class FedBuff {
  readonly length: number;
  readonly bufferSize: number;
  readonly maxStaleness: number;
  readonly #staleness: (tau: number) => number;
  readonly #inner: Strategy | undefined;
  #version = 0;
  #buffer: { update: ClientUpdate; tau: number }[] = [];

  constructor(options: FedBuffOptions) {
    this.length = options.length;
    this.bufferSize = options.bufferSize ?? 10;
    this.maxStaleness = options.maxStaleness ?? Infinity;
    this.#staleness = options.staleness ?? sqrtStaleness;
    this.#inner = options.inner;
    if (!Number.isInteger(this.bufferSize) || this.bufferSize < 1) {
      throw new RangeError(`Cannot create FedBuff: buffer size ${this.bufferSize} is not >= 1`);
    }
    if (!Number.isInteger(this.length) || this.length < 0) {
      throw new RangeError(`Cannot create FedBuff: length ${this.length} is not an integer`);
    }
  }

  /** Version of the global model (number of aggregates emitted). */
  get version(): number {
    return this.#version;
  }

  /** Updates waiting in the buffer. */
  get pending(): number {
    return this.#buffer.length;
  }

  /**
   * Adds an update computed against global version `baseVersion`; emits the aggregate and
   * advances the version when the buffer becomes full.
   */
  submit(update: ClientUpdate, baseVersion: number): SubmitOutcome {
    const tau = this.#version - baseVersion;
    if (!Number.isInteger(baseVersion) || tau < 0) {
      return {
        status: "rejected",
        reason: `base version ${baseVersion} is not <= ${this.#version}`,
      };
    }
    if (tau > this.maxStaleness) {
      return { status: "rejected", reason: `staleness ${tau} exceeds ${this.maxStaleness}` };
    }
    const { rejected } = partitionValid([update], this.length);
    if (rejected.length > 0) return { status: "rejected", reason: rejected[0]!.reason };
    if (this.#buffer.some((b) => b.update.nodeId === update.nodeId)) {
      return { status: "rejected", reason: `node already has an update in this buffer` };
    }
    this.#buffer.push({ update, tau });
    if (this.#buffer.length < this.bufferSize) return { status: "buffered", staleness: tau };
    const result = this.#emit();
    return { status: "aggregated", staleness: tau, version: this.#version, result };
  }

  #emit(): AggregateResult {
    const entries = this.#buffer.sort((a, b) => compareIds(a.update.nodeId, b.update.nodeId));
    this.#buffer = [];
    this.#version++;
    const discounts = entries.map((e) => this.#staleness(e.tau));
    if (this.#inner) {
      const scaled = entries.map((e, j) => ({
        ...e.update,
        delta: e.update.delta.map((x) => x * discounts[j]!),
      }));
      return this.#inner.aggregate(scaled);
    }
    const updates = entries.map((e) => e.update);
    const total = updates.reduce((s, u) => s + u.numSamples, 0);
    // weightedMean divides by Σ w; we want Σ n s Δ / Σ n, so rescale the weights.
    const weights = updates.map((u, j) => u.numSamples * discounts[j]!);
    const wsum = weights.reduce((s, w) => s + w, 0);
    const delta = weightedMean(updates, weights, this.length);
    const k = wsum / total;
    for (let i = 0; i < delta.length; i++) delta[i]! *= k;
    return { delta, accepted: updates.map((u) => u.nodeId), rejected: [] };
  }
}
