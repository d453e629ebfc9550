/**
 * Hierarchical FedAvg's global step (design doc, "Option 4: Hybrid Approach"): clusters of 10-20
 * nodes are aggregated by cluster aggregators, each handing up an f32 mean and its total samples
 * (4 bytes/param, what travels over the network); the global step is FedAvg over those means
 * weighted by their samples, equal to flat FedAvg within two f32 roundings (a few ulps). The
 * coordinator cuts the clusters and audits their aggregators (lib/coordinator/clusters.ts); a
 * cluster aggregator computes its mean with lib/round/cluster_task.ts.
 *
 * @example
 * ```ts
 * import { combineClusters } from "./hierarchical.ts";
 * const cluster = (i: number, x: number, totalSamples: number) => ({
 *   clusterId: `cluster-${i}`, delta: new Float32Array([x]), totalSamples, accepted: [], rejected: [],
 * });
 * console.log(combineClusters([cluster(0, 1, 3), cluster(1, 5, 1)]).delta); // Float32Array [2]
 * ```
 *
 * @module
 */
import type { AggregateResult, RejectedUpdate } from "./strategy.ts";
import { compareIds, FedAvg } from "./fed_avg.ts";

/** Default cluster size, inside the design's 10-20 range. */
export const DEFAULT_CLUSTER_SIZE = 16;

/** What a cluster aggregator hands to the global step. */
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

/** The global step: cluster means weighted by their total samples. */
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
