/**
 * A coordinate-wise strategy (median, trimmed mean, Krum, ...) over partition-codec updates:
 * each node sent one part of the coordinates, so the rule runs once per part, over the nodes
 * whose part it is, on their values as sent (the codec's x parts scale undone). Every
 * coordinate then gets the robust combination of its senders, which a whole-vector rule
 * cannot give: it would see (parts - 1) zeros for each real value.
 *
 * A part needs enough senders for its rule to mean anything (median of 1 is that node's
 * value; Krum with f Byzantine needs 2f + 3): jobs with many more nodes than parts.
 *
 * @example
 * ```ts
 * import { partitionCodec } from "../compress/partition.ts";
 * import { aggregatePartitioned } from "./partitioned.ts";
 * import { FedMedian } from "./fed_median.ts";
 * const seed = 7, parts = 2, n = 64;
 * const updates = [0, 1, 2, 3, 4, 5].map((slot) => {
 *   const codec = partitionCodec({ seed, slot, parts });
 *   const delta = codec.decode(codec.encode(new Float32Array(n).fill(slot === 5 ? 1e6 : 1)).bytes, n);
 *   return { nodeId: `0x0${slot}`, delta, numSamples: 1, slot };
 * });
 * const out = aggregatePartitioned(updates, { seed, parts, strategyFor: () => new FedMedian() });
 * console.assert(out.delta.every((x) => x === 1));
 * ```
 *
 * @module
 */
import { partIndices } from "../compress/partition.ts";
import type { AggregateResult, ClientUpdate, RejectedUpdate, Strategy } from "./strategy.ts";

/** A decoded partition update and the slot it was sent from. */
export interface PartitionedUpdate extends ClientUpdate {
  slot: number;
}

/** Where the parts are: the round's seed and the job's number of parts. */
export interface PartitionedOptions {
  seed: number;
  parts: number;
  /** The rule for a part with `n` senders (e.g. robustStrategyFor(spec.robust, n)). */
  strategyFor: (n: number) => Strategy;
}

/**
 * Runs `strategyFor(senders)` per part and scatters each part's result into one delta.
 * Coordinates of a part nobody sent stay 0. A node is accepted when its part's rule accepted
 * it; rejected when its part's rule rejected it.
 *
 * @throws {RangeError} on no update, updates of different lengths, or a bad slot
 */
export function aggregatePartitioned(
  updates: readonly PartitionedUpdate[],
  o: PartitionedOptions,
): AggregateResult {
  if (updates.length === 0) throw new RangeError("Cannot aggregate: no update");
  const length = updates[0]!.delta.length;
  const out = new Float32Array(length);
  const accepted: string[] = [];
  const rejected: RejectedUpdate[] = [];
  for (const u of updates) {
    if (u.delta.length !== length) {
      throw new RangeError(
        `Cannot aggregate: update of ${u.nodeId} has ${u.delta.length} values, not ${length}`,
      );
    }
    if (!Number.isInteger(u.slot) || u.slot < 0) {
      throw new RangeError(`Cannot aggregate: slot ${u.slot} of ${u.nodeId} is not valid`);
    }
  }
  for (let part = 0; part < o.parts; part++) {
    const senders = updates.filter((u) => u.slot % o.parts === part);
    if (senders.length === 0) continue;
    const idx = partIndices(length, o.seed, o.parts, part);
    const sub = senders.map((u) => {
      const values = new Float32Array(idx.length);
      for (let j = 0; j < idx.length; j++) values[j] = u.delta[idx[j]!]! / o.parts;
      return { nodeId: u.nodeId, delta: values, numSamples: u.numSamples };
    });
    const r = o.strategyFor(sub.length).aggregate(sub);
    for (let j = 0; j < idx.length; j++) out[idx[j]!] = r.delta[j]!;
    accepted.push(...r.accepted);
    rejected.push(...r.rejected);
  }
  return { delta: out, accepted: accepted.sort(), rejected };
}
