/**
 * GET /status[?job=<jobId>] — jobs (rounds, validation loss per round, assigned and reassigned
 * nodes, settlement) and bound nodes, for dashboards and for workers deciding what to do.
 */
import { type Context, contextFromEnv } from "./_context.ts";
import { handler, HttpError, json } from "./_http.ts";
import { getJob, listJobs, listValues, type NodeRecord, NODES, roundUpdates } from "./_state.ts";

/** Creates the status handler over a context. */
export function createStatus(ctx: Context) {
  return handler(async (req) => {
    if (req.method !== "GET") throw new HttpError(405, "Cannot read status: use GET");
    const jobId = new URL(req.url).searchParams.get("job");
    if (jobId !== null) {
      if (!/^0x[0-9a-fA-F]{64}$/.test(jobId)) {
        throw new HttpError(400, 'Invalid query "job": expected 32-byte hex');
      }
      const job = (await getJob(ctx.kv, jobId)).value;
      if (!job) throw new HttpError(404, "Cannot read status: unknown job");
      const received = await listValues(ctx.kv, roundUpdates(job.jobId, job.round));
      return json({ ...job, roundUpdates: received.length });
    }
    const [jobs, nodes] = await Promise.all([
      listJobs(ctx.kv),
      listValues<NodeRecord>(ctx.kv, NODES),
    ]);
    return json({ jobs, nodes, now: ctx.now() });
  });
}

export default {
  fetch: async (req: Request) => createStatus(await contextFromEnv())(req),
};
