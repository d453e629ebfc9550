/** What dashboards and workers read: one job with its open round's update count, or everything. */
import type { Context } from "./context.ts";
import { reject, type Rejection } from "./result.ts";
import {
  type Assignment,
  getJob,
  getMetrics,
  type JobHead,
  listRecentJobHeads,
  listValues,
  type NodeRecord,
  NODES,
  type RoundMetric,
  roundUpdates,
  updateCountKey,
  withAssignment,
} from "./state.ts";

/** How many jobs, nodes and round metrics GET /status answers unless asked, and at most. */
export const STATUS_PAGE = {
  jobs: { default: 50, max: 500 },
  nodes: { default: 100, max: 10_000 },
  /** Of one job (`?job=`, `?from=`, `?limit=`): its whole history up to a job of this many. */
  metrics: { default: 1_000, max: 1_000 },
  /** Of each job the overview lists, the newest (the rest: `?job=`). */
  recentMetrics: 20,
} as const;

/**
 * A job's privacy as /status shows it: what each data owner spent, not the counts of every round
 * behind it (a shard's copies and an old job's noise, per round, stay in the job's record).
 */
export type PrivacyView = Omit<NonNullable<JobHead["privacy"]>, "shardCopyRuns" | "shardNoise">;

/**
 * A job as /status shows it: its head with a page of its rounds' metrics, and `metricCount`, how
 * many it has (one per closed round).
 */
export type JobView = Omit<JobHead, "privacy"> & { metricCount: number; privacy?: PrivacyView };

/**
 * A job with its whole assignment, how many updates its open round holds and its rounds' metrics
 * from round `from` (default 0), at most `limit` (default {@link STATUS_PAGE}): one page of
 * entries read, whatever the job's length.
 */
export async function jobStatus(
  ctx: Context,
  jobId: string,
  page: { from?: number; limit?: number } = {},
): Promise<{ ok: true; job: JobView & Assignment & { roundUpdates: number } } | Rejection> {
  const head = (await getJob(ctx.kv, jobId, { metrics: false })).value;
  if (!head) return reject(404, "UNKNOWN_JOB", "Cannot read status: unknown job");
  const limit = page.limit ?? STATUS_PAGE.metrics.default;
  const metrics = await getMetrics(ctx.kv, head, { from: page.from, limit });
  const job = await withAssignment(ctx.kv, head);
  const roundUpdates = await countUpdates(ctx.kv, job);
  return { ok: true, job: { ...view(job, metrics), roundUpdates } };
}

/** The open round's stored updates: the count intake keeps (a listing for older rounds). */
async function countUpdates(kv: Deno.Kv, job: Pick<JobHead, "jobId" | "round">) {
  const count = await kv.get<Deno.KvU64>(updateCountKey(job.jobId, job.round));
  if (count.value !== null) return Number(count.value.value);
  return (await listValues(kv, roundUpdates(job.jobId, job.round))).length;
}

/**
 * The most recently active jobs (their heads, no assignment lists, each with its newest metrics)
 * and the most recently seen bound nodes, with how many there are, and the coordinator's clock.
 * It listed every job with its whole assignment and every node, on every call of an
 * unauthenticated route polled by dashboards and `job submit`: megabytes an answer at 10,000
 * nodes. Then every job ever run with every round's metric: 6 MB and 1.3 s an answer at 20 jobs
 * of 1,000 rounds, 0.6 s of it for `?jobs=0` (found in the coordinator DoS audit).
 */
export async function overview(
  ctx: Context,
  page: { jobs?: number; nodes?: number } = {},
): Promise<
  { jobs: JobView[]; nodes: NodeRecord[]; jobCount: number; nodeCount: number; now: number }
> {
  const [recent, nodes] = await Promise.all([
    listRecentJobHeads(ctx.kv, page.jobs ?? STATUS_PAGE.jobs.default),
    listValues<NodeRecord>(ctx.kv, NODES),
  ]);
  const newest = { limit: STATUS_PAGE.recentMetrics, newest: true };
  const jobs = await Promise.all(
    recent.heads.map(async (head) => view(head, await getMetrics(ctx.kv, head, newest))),
  );
  nodes.sort((a, b) => b.lastSeen - a.lastSeen);
  return {
    jobs,
    nodes: nodes.slice(0, page.nodes ?? STATUS_PAGE.nodes.default),
    jobCount: recent.count,
    nodeCount: nodes.length,
    now: ctx.now(),
  };
}

/** A job's view with these metrics; its privacy without the per-round counts behind it. */
function view<T extends JobHead>(
  job: T,
  metrics: RoundMetric[],
): Omit<T, "privacy"> & JobView {
  const { privacy, ...rest } = job;
  const shown = privacy && (({ shardCopyRuns: _c, shardNoise: _n, ...p }) => p)(privacy);
  // One metric per closed round: the round in progress counts them.
  return { ...rest, metrics, metricCount: job.round, ...(shown ? { privacy: shown } : {}) };
}
