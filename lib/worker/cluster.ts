/**
 * A cluster aggregator's task: the exact mean of its cluster's updates (each fetched by CID and
 * checked), uploaded and posted signed with the cluster's total samples. The coordinator may
 * recompute it; the exact sum makes an honest one match. A browser tab fetches the updates first
 * ({@link fetchClusterUpdates}) and sums them in its Web Worker with the same {@link clusterMeanOf}.
 *
 * @example
 * ```ts ignore
 * import { clusterMeanOf, postClusterMean } from "./cluster.ts";
 * const spec = await gateway.spec(task.specCid);
 * await postClusterMean(ctx, task, spec, await clusterMeanOf(gateway, task, spec));
 * ```
 */
import type { Hex } from "viem";
import { paramLayout } from "../../kernel/params.ts";
import { encodeCheckpoint } from "../model/checkpoint.ts";
import { clusterMean, clusterMembersDigest, signClusterSubmission } from "../round/cluster_task.ts";
import type { ArthaDomain } from "../crypto/domain.ts";
import type { JobSpec } from "../job/job_spec.ts";
import type { NodeKey } from "../crypto/keys.ts";
import type { CoordinatorClient } from "./client.ts";
import type { Gateway } from "./gateway.ts";
import type { ClusterTask } from "./task.ts";
import { checkedUpdates } from "./cluster_check.ts";

/** A cluster's mean update and the samples behind it. */
export interface ClusterMean {
  delta: Float32Array;
  totalSamples: number;
}

/** Where a cluster's update bytes come from: the gateway (fetched one at a time, each checked
 * against its CID), or a map of bytes fetched before (a browser tab's Web Worker). */
export interface UpdateSource {
  get(cid: string): Promise<Uint8Array> | Uint8Array | undefined;
}

/** The exact weighted mean of the task's members' updates. */
export function clusterMeanOf(
  updates: UpdateSource,
  task: ClusterTask,
  spec: JobSpec,
): Promise<ClusterMean> {
  const read = async (cid: string) => {
    const bytes = await updates.get(cid);
    if (!bytes) throw new Error(`Cannot aggregate cluster ${task.cluster}: no bytes for ${cid}`);
    return bytes;
  };
  return clusterMean(task.members, read, paramLayout(spec.model).size);
}

/**
 * Fetches every member's update through the gateway (each checked against its CID, and against
 * the gradient digest its node committed: `digests`, from cluster_check.ts).
 */
export async function fetchClusterUpdates(
  gateway: Gateway,
  task: ClusterTask,
  digests: ReadonlyMap<string, Hex>,
  between: () => Promise<void> = () => Promise.resolve(),
): Promise<Map<string, Uint8Array>> {
  const updates = new Map<string, Uint8Array>();
  const source = checkedUpdates(signedUpdates(gateway), digests);
  for (const m of task.members) {
    await between(); // each fetch may take minutes: the node's chores run between them
    updates.set(m.updateCid, await source.get(m.updateCid));
  }
  return updates;
}

/**
 * Updates read through the gateway with signed requests: they are private to their job's owner,
 * nodes and coordinator (lib/coordinator/svdb_private.ts).
 */
export function signedUpdates(gateway: Gateway): { get(cid: string): Promise<Uint8Array> } {
  return { get: (cid) => gateway.get(cid, undefined, true) };
}

/** Who posts the mean. */
export interface ClusterContext {
  coordinator: CoordinatorClient;
  gateway: Gateway;
  key: NodeKey;
  domain: ArthaDomain;
}

/** Uploads the mean and posts it signed (POST /aggregate/cluster). */
export async function postClusterMean(
  ctx: ClusterContext,
  task: ClusterTask,
  spec: JobSpec,
  mean: ClusterMean,
): Promise<void> {
  // Private like its members' updates: the job's readers read it once the coordinator takes it.
  const { cid: aggregateCid } = await ctx.gateway.putPrivate(
    encodeCheckpoint(spec.model, mean.delta, { kind: "cluster-mean" }),
  );
  const submission = {
    jobId: task.jobId,
    round: task.round,
    cluster: task.cluster,
    nodePubkey: ctx.key.publicKeyHex.toLowerCase() as Hex,
    aggregateCid,
    totalSamples: mean.totalSamples,
    membersDigest: clusterMembersDigest(task.members),
  };
  const signature = signClusterSubmission(ctx.key, submission, ctx.domain);
  await ctx.coordinator.postJson("/aggregate/cluster", { ...submission, signature });
}
