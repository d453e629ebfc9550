/** What dashboards and workers read: one job with its open round's update count, or everything. */
import type { Context } from "./context.ts";
import { reject, type Rejection } from "./result.ts";
import {
  getJob,
  type JobRecord,
  listJobs,
  listValues,
  type NodeRecord,
  NODES,
  roundUpdates,
} from "./state.ts";

/** A job and how many updates its open round holds. */
export async function jobStatus(
  ctx: Context,
  jobId: string,
): Promise<{ ok: true; job: JobRecord & { roundUpdates: number } } | Rejection> {
  const job = (await getJob(ctx.kv, jobId)).value;
  if (!job) return reject(404, "UNKNOWN_JOB", "Cannot read status: unknown job");
  const received = await listValues(ctx.kv, roundUpdates(job.jobId, job.round));
  return { ok: true, job: { ...job, roundUpdates: received.length } };
}

/** Every job and bound node, and the coordinator's clock. */
export async function overview(
  ctx: Context,
): Promise<{ jobs: JobRecord[]; nodes: NodeRecord[]; now: number }> {
  const [jobs, nodes] = await Promise.all([
    listJobs(ctx.kv),
    listValues<NodeRecord>(ctx.kv, NODES),
  ]);
  return { jobs, nodes, now: ctx.now() };
}
