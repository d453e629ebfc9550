/**
 * Task assignment: what a node should do now. Aggregating its cluster comes first (the round
 * cannot close without it), then validating a spot-checked round as a committee member (its
 * attestation window is short), then its training task; `wait` while its update for the open
 * round is in, `idle` when no job needs it.
 */
import type { Hex } from "viem";
import { taskSeed, taskShard } from "../job/job_spec.ts";
import type { TaskResponse } from "../worker/task.ts";
import { clusterTaskFor } from "./clusters.ts";
import { validationTaskFor } from "./committees.ts";
import type { Context } from "./context.ts";
import { touchNode } from "./intake.ts";
import { loadSpec, slotOf } from "./job.ts";
import { reject, type Rejection } from "./result.ts";
import {
  getJobNode,
  holdsTask,
  type JobHead,
  type JobNodeRecord,
  listLiveJobHeads,
  nodeKey,
  type NodeRecord,
  updateKey,
} from "./state.ts";

/** The task of a registered node now (and a note that it was seen). */
export async function nextTask(
  ctx: Context,
  node: Hex,
): Promise<{ ok: true; task: TaskResponse } | Rejection> {
  const rec = await ctx.kv.get<NodeRecord>(nodeKey(node));
  if (!rec.value) {
    const why = "Cannot get task: node is not registered; POST /register first";
    return reject(404, "NOT_REGISTERED", why);
  }
  await touchNode(ctx, node, rec.value);
  return { ok: true, task: await taskFor(ctx, node) };
}

/**
 * The task of `node` now, if any: one read of its place per job not yet finalized, whatever the
 * job's size. A finalized job has nothing left for any node (settlement waited for every
 * verification case): reading its places on every poll made each node's poll cost grow with
 * every job the coordinator ever ran.
 */
export async function taskFor(ctx: Context, node: Hex): Promise<TaskResponse> {
  let waiting = false;
  for (const job of await listLiveJobHeads(ctx.kv, { metrics: false })) {
    const place = await getJobNode(ctx.kv, job.jobId, node);
    if (!holdsTask(place)) continue;
    const cluster = job.status === "running" ? await clusterTaskFor(ctx, job, node) : undefined;
    if (cluster) return cluster;
    // Validation runs even after the job completed.
    const validate = await validationTaskFor(ctx, job, node);
    if (validate) return validate;
    if (job.status !== "running") continue;
    const done = await ctx.kv.get(updateKey(job.jobId, job.round, node));
    if (done.value) {
      waiting = true;
      continue;
    }
    return await trainTask(ctx, job, place);
  }
  return { status: waiting ? "wait" : "idle" };
}

/** The node's training task in the job's open round. */
async function trainTask(
  ctx: Context,
  job: JobHead,
  place: JobNodeRecord,
): Promise<TaskResponse> {
  const spec = await loadSpec(ctx.store, job.specCid);
  const { task } = place;
  const index = taskShard(spec, task);
  const shard = spec.shards[index]!;
  return {
    status: "task",
    jobId: job.jobId,
    round: job.round,
    specCid: job.specCid,
    globalCid: job.globalCid,
    shard: { index, name: shard.name, cid: shard.cid },
    seed: taskSeed(spec, task),
    slot: slotOf(place, spec),
  };
}
