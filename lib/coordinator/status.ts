/** What dashboards and workers read: one job with its open round's update count, or everything. */
import type { Context } from "./context.ts";
import { reject, type Rejection } from "./result.ts";
import { updateCountKey } from "./close_trigger.ts";
import {
  getJob,
  type JobRecord,
  listJobs,
  listValues,
  type NodeRecord,
  NODES,
  roundUpdates,
  withAssignment,
} from "./state.ts";

/** A job and how many updates its open round holds. */
export async function jobStatus(
  ctx: Context,
  jobId: string,
): Promise<{ ok: true; job: JobRecord & { roundUpdates: number } } | Rejection> {
  const head = (await getJob(ctx.kv, jobId)).value;
  if (!head) return reject(404, "UNKNOWN_JOB", "Cannot read status: unknown job");
  const job = await withAssignment(ctx.kv, head);
  return { ok: true, job: { ...job, roundUpdates: await countUpdates(ctx.kv, job) } };
}

/** The open round's stored updates: the count intake keeps (a listing for older rounds). */
async function countUpdates(kv: Deno.Kv, job: Pick<JobRecord, "jobId" | "round">) {
  const count = await kv.get<Deno.KvU64>(updateCountKey(job.jobId, job.round));
  if (count.value !== null) return Number(count.value.value);
  return (await listValues(kv, roundUpdates(job.jobId, job.round))).length;
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
