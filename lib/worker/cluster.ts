/**
 * A cluster aggregator's task: the exact mean of its cluster's updates (each fetched by CID and
 * checked), uploaded and posted signed with the cluster's total samples. The coordinator may
 * recompute it; the exact sum makes an honest one match.
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
import { clusterMean, signClusterSubmission } from "../round/cluster_task.ts";
import type { ArthaDomain } from "../crypto/domain.ts";
import type { JobSpec } from "../job/job_spec.ts";
import type { NodeKey } from "../crypto/keys.ts";
import type { CoordinatorClient } from "./client.ts";
import type { Gateway } from "./gateway.ts";
import type { ClusterTask } from "./task.ts";

/** A cluster's mean update and the samples behind it. */
export interface ClusterMean {
  delta: Float32Array;
  totalSamples: number;
}

/** The exact weighted mean of the task's members' updates. */
export function clusterMeanOf(
  gateway: Gateway,
  task: ClusterTask,
  spec: JobSpec,
): Promise<ClusterMean> {
  return clusterMean(task.members, (cid) => gateway.get(cid), paramLayout(spec.model).size);
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
  const aggregateCid = await ctx.gateway.put(
    encodeCheckpoint(spec.model, mean.delta, { kind: "cluster-mean" }),
  );
  const submission = {
    jobId: task.jobId,
    round: task.round,
    cluster: task.cluster,
    nodePubkey: ctx.key.publicKeyHex.toLowerCase() as Hex,
    aggregateCid,
    totalSamples: mean.totalSamples,
  };
  const signature = signClusterSubmission(ctx.key, submission, ctx.domain);
  await ctx.coordinator.postJson("/aggregate/cluster", { ...submission, signature });
}
