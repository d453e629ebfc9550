/**
 * Hierarchical FedAvg's global step (design doc, "Option 4: Hybrid Approach"): clusters of 10-20
 * nodes are aggregated by cluster aggregators, each handing up an f32 mean and its total samples
 * (4 bytes/param, what travels over the network); the global step is FedAvg over those means
 * weighted by their samples, equal to flat FedAvg within two f32 roundings (a few ulps). The
 * global step's terms are sums of the members' (samples * mean = the members' weighted sum), so
 * a member's terms are bounded by MAX_TERM / clusterSize ({@link memberTermLimit}), not MAX_TERM.
 * The coordinator cuts the clusters and audits their aggregators (lib/coordinator/clusters.ts); a
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
import type { AggregateResult, ClientUpdate, RejectedUpdate } from "./strategy.ts";
import { compareIds, FedAvg } from "./fed_avg.ts";
import { checkUpdate, MAX_TERM } from "./streaming_fed_avg.ts";

/** Default cluster size, inside the design's 10-20 range. */
export const DEFAULT_CLUSTER_SIZE = 16;

/**
 * Relative room left under MAX_TERM for the two roundings between the members' exact sum and the
 * global step's check: the cluster mean's to f32 (2^-24) and the f64 product samples * mean.
 */
const ROUNDING_ROOM = 2 ** -20;

/**
 * The bound on a member's |numSamples * delta[j]| in a job cut into clusters of `clusterSize`.
 * The global step weighs a cluster's mean by its total samples, which gives back the sum of its
 * members' terms: each under MAX_TERM was not enough (found in the hierarchical audit: one member
 * a cluster near the limit, of the sign of the others there, made every cluster's product exceed
 * MAX_TERM, and the round could never close). Under this bound an honest mean always passes.
 *
 * @example
 * ```ts
 * import { memberTermLimit } from "./hierarchical.ts";
 * console.assert(16 * memberTermLimit(16) < 2 ** 28);
 * ```
 */
export function memberTermLimit(clusterSize: number): number {
  if (!Number.isInteger(clusterSize) || clusterSize <= 0) {
    throw new RangeError(
      `Cannot bound members: cluster size ${clusterSize} is no positive integer`,
    );
  }
  return (MAX_TERM / clusterSize) * (1 - ROUNDING_ROOM);
}

/**
 * Why `update` cannot be a member of a cluster of `clusterSize` (a term at or past
 * {@link memberTermLimit}), or undefined. Checks no more than that: pair it with `checkUpdate`.
 *
 * @example
 * ```ts
 * import { checkClusterMember } from "./hierarchical.ts";
 * const update = { nodeId: "0xa", delta: new Float32Array([2 ** 25]), numSamples: 4 };
 * console.assert(checkClusterMember(update, 1) === undefined);
 * console.assert(checkClusterMember(update, 2) !== undefined);
 * ```
 */
export function checkClusterMember(update: ClientUpdate, clusterSize: number): string | undefined {
  const limit = memberTermLimit(clusterSize);
  let max = 0;
  for (const x of update.delta) {
    const a = Math.abs(x);
    if (a > max) max = a;
  }
  const term = max * update.numSamples;
  if (!(term < limit)) {
    return `numSamples * |delta| ${term} >= 2^28 / ${clusterSize} (clusters of ${clusterSize})`;
  }
  return undefined;
}

/**
 * Why the global step would leave `cluster` out (a length other than `length`, a bad total,
 * non-finite values, totalSamples * |mean| >= 2^28), or undefined: FedAvg's own check.
 *
 * @example
 * ```ts
 * import { checkClusterMean } from "./hierarchical.ts";
 * const mean = { clusterId: "cluster-0", delta: new Float32Array([2 ** 26]), totalSamples: 4 };
 * console.assert(checkClusterMean(mean, 1) !== undefined);
 * ```
 */
export function checkClusterMean(
  cluster: Pick<ClusterAggregate, "clusterId" | "delta" | "totalSamples">,
  length: number,
): string | undefined {
  const { clusterId: nodeId, delta, totalSamples: numSamples } = cluster;
  return checkUpdate({ nodeId, delta, numSamples }, length);
}

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
