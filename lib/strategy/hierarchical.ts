/**
 * Hierarchical FedAvg (design doc, "Hybrid Approach"): clusters of 10-20 nodes are
 * aggregated by cluster aggregators, then a global step combines the cluster results weighted
 * by their total samples.
 *
 * Two ways to combine, both deterministic:
 * - `"exact"` (default): clusters hand up their exact partial sums (`StreamingFedAvg.merge`);
 *   the global result is bit-identical to flat FedAvg. Costs 24 bytes/param per cluster.
 * - `"mean"`: clusters hand up an f32 mean and its total samples (4 bytes/param, what travels
 *   over the network); the global step is FedAvg over cluster means with weight = samples.
 *   Equal to flat FedAvg within two f32 roundings (a few ulps).
 *
 * Cluster membership is deterministic: nodes sorted by nodeId, cut into consecutive groups.
 *
 * @example
 * ```ts
 * import { Hierarchical } from "./hierarchical.ts";
 * const updates = Array.from({ length: 30 }, (_, i) => ({
 *   nodeId: `0x${i.toString(16).padStart(2, "0")}`,
 *   delta: new Float32Array([i]),
 *   numSamples: 1,
 * }));
 * console.log(new Hierarchical({ clusterSize: 10 }).aggregate(updates).delta); // Float32Array [14.5]
 * ```
 *
 * @module
 */
import type { AggregateResult, ClientUpdate, RejectedUpdate, Strategy } from "./strategy.ts";
import { StreamingFedAvg } from "./streaming_fed_avg.ts";
import { compareIds, dedupeUpdates, FedAvg } from "./fed_avg.ts";

/** Default cluster size, inside the design's 10-20 range. */
export const DEFAULT_CLUSTER_SIZE = 16;

/** What a cluster aggregator hands to the global step in "mean" mode. */
export interface ClusterAggregate {
  /** Stable cluster id ("cluster-<index>"), used as the nodeId in the global step. */
  clusterId: string;
  /** The cluster's weighted mean delta. */
  delta: Float32Array;
  /** Sum of numSamples of the cluster's accepted updates (its global weight). */
  totalSamples: number;
  accepted: string[];
  rejected: RejectedUpdate[];
}

/** Options of {@link Hierarchical}. */
export interface HierarchicalOptions {
  /** Updates per cluster (default 16). */
  clusterSize?: number;
  /** How cluster results are combined (default "exact"). */
  combine?: "exact" | "mean";
}

/** Splits updates into clusters of `clusterSize` consecutive nodeIds (sorted). */
export function clusterUpdates(
  updates: readonly ClientUpdate[],
  clusterSize: number = DEFAULT_CLUSTER_SIZE,
): ClientUpdate[][] {
  if (!Number.isInteger(clusterSize) || clusterSize < 1) {
    throw new RangeError(`Cannot cluster: clusterSize ${clusterSize} is not a positive integer`);
  }
  const sorted = [...updates].sort((a, b) => compareIds(a.nodeId, b.nodeId));
  const clusters: ClientUpdate[][] = [];
  for (let i = 0; i < sorted.length; i += clusterSize) {
    clusters.push(sorted.slice(i, i + clusterSize));
  }
  return clusters;
}

/** A cluster aggregator's step: FedAvg over its members plus its total samples. */
export function aggregateCluster(
  clusterId: string,
  updates: readonly ClientUpdate[],
  length: number,
): ClusterAggregate {
  const acc = new StreamingFedAvg(length);
  for (const u of updates) acc.add(u);
  return finishCluster(clusterId, acc);
}

function finishCluster(clusterId: string, acc: StreamingFedAvg): ClusterAggregate {
  const totalSamples = acc.totalSamples;
  const { delta, accepted, rejected } = acc.finish();
  return { clusterId, delta, totalSamples, accepted, rejected };
}

/** The global step of "mean" mode: cluster means weighted by their total samples. */
export function combineClusters(clusters: readonly ClusterAggregate[]): AggregateResult {
  const global = new FedAvg().aggregate(
    clusters.map((c) => ({ nodeId: c.clusterId, delta: c.delta, numSamples: c.totalSamples })),
  );
  const used = new Set(global.accepted);
  const accepted: string[] = [];
  const rejected: RejectedUpdate[] = [];
  for (const c of clusters) {
    if (used.has(c.clusterId)) accepted.push(...c.accepted);
    rejected.push(...c.rejected);
  }
  for (const r of global.rejected) {
    rejected.push({ nodeId: r.nodeId, reason: `cluster: ${r.reason}` });
  }
  return {
    delta: global.delta,
    accepted: accepted.sort(compareIds),
    rejected: rejected.sort((a, b) => compareIds(a.nodeId, b.nodeId)),
  };
}

/** Two-level FedAvg over clusters of nodes. */
export class Hierarchical implements Strategy {
  readonly name = "hierarchical";
  readonly clusterSize: number;
  readonly combine: "exact" | "mean";

  constructor(options: HierarchicalOptions = {}) {
    this.clusterSize = options.clusterSize ?? DEFAULT_CLUSTER_SIZE;
    this.combine = options.combine ?? "exact";
  }

  /** Combines the round's updates; throws RangeError when none is usable. */
  aggregate(updates: readonly ClientUpdate[]): AggregateResult {
    if (updates.length === 0) throw new RangeError("Cannot aggregate: no updates");
    const length = updates[0]!.delta.length;
    const { unique, rejected } = dedupeUpdates(updates);
    const clusters = clusterUpdates(unique, this.clusterSize);
    let result: AggregateResult;
    if (this.combine === "mean") {
      const aggregates: ClusterAggregate[] = [];
      clusters.forEach((members, i) => {
        const acc = new StreamingFedAvg(length);
        for (const u of members) acc.add(u);
        if (acc.count > 0) aggregates.push(finishCluster(`cluster-${i}`, acc));
        else rejected.push(...acc.rejected);
      });
      if (aggregates.length === 0) throw new RangeError("Cannot aggregate: no valid update");
      result = combineClusters(aggregates);
    } else {
      const global = new StreamingFedAvg(length);
      for (const members of clusters) {
        const cluster = new StreamingFedAvg(length);
        for (const u of members) cluster.add(u);
        global.merge(cluster);
      }
      result = global.finish();
    }
    return {
      ...result,
      rejected: [...result.rejected, ...rejected].sort((a, b) => compareIds(a.nodeId, b.nodeId)),
    };
  }
}
