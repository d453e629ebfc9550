/** What dashboards and workers read: one job with its open round's update count, or everything. */
import type { Context } from "./context.ts";
import { reject, type Rejection } from "./result.ts";
import {
  getJob,
  type JobHead,
  type JobRecord,
  listJobHeads,
  listValues,
  type NodeRecord,
  NODES,
  roundUpdates,
  updateCountKey,
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

/** How many jobs and nodes GET /status lists unless asked (`?jobs=`, `?nodes=`), and at most. */
export const STATUS_PAGE = {
  jobs: { default: 50, max: 500 },
  nodes: { default: 100, max: 10_000 },
} as const;

/**
 * The most recently active jobs (their heads: no assignment lists) and the most recently seen
 * bound nodes, with how many there are, and the coordinator's clock. It listed every job with
 * its whole assignment and every node, on every call of an unauthenticated route polled by
 * dashboards and `job submit`: megabytes an answer at 10,000 nodes.
 */
export async function overview(
  ctx: Context,
  page: { jobs?: number; nodes?: number } = {},
): Promise<
  { jobs: JobHead[]; nodes: NodeRecord[]; jobCount: number; nodeCount: number; now: number }
> {
  const [jobs, nodes] = await Promise.all([
    listJobHeads(ctx.kv),
    listValues<NodeRecord>(ctx.kv, NODES),
  ]);
  jobs.sort((a, b) => b.roundOpenedAt - a.roundOpenedAt);
  nodes.sort((a, b) => b.lastSeen - a.lastSeen);
  return {
    jobs: jobs.slice(0, page.jobs ?? STATUS_PAGE.jobs.default),
    nodes: nodes.slice(0, page.nodes ?? STATUS_PAGE.nodes.default),
    jobCount: jobs.length,
    nodeCount: nodes.length,
    now: ctx.now(),
  };
}
