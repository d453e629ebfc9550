/**
 * GET /status[?job=<jobId>[&from=<round>&limit=<n>]] — jobs (rounds, validation loss per round,
 * assigned and reassigned nodes, settlement, privacy spent) and bound nodes, for dashboards and for
 * workers deciding what to do. Without `job`, the most recently active jobs (`?jobs=`, default 50)
 * each with its newest 20 round metrics, and the most recently seen nodes (`?nodes=`, default
 * 100), with `jobCount` and `nodeCount`. With `job`, its metrics from round `from` (default 0),
 * at most `limit` (default and at most 1,000). Every job carries `metricCount`, its closed rounds.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { jobStatus, overview, STATUS_PAGE } from "../lib/coordinator/status.ts";
import { handler, HttpError, json, unwrap } from "./_http.ts";

/** Creates the status handler over a context. */
export function createStatus(ctx: Context) {
  return handler(async (req) => {
    if (req.method !== "GET") throw new HttpError(405, "Cannot read status: use GET");
    const query = new URL(req.url).searchParams;
    const jobId = query.get("job");
    if (jobId === null) {
      const jobs = count(query, "jobs", STATUS_PAGE.jobs.max);
      return json(
        await overview(ctx, { jobs, nodes: count(query, "nodes", STATUS_PAGE.nodes.max) }),
      );
    }
    if (!/^0x[0-9a-fA-F]{64}$/.test(jobId)) {
      throw new HttpError(400, 'Invalid query "job": expected 32-byte hex');
    }
    const from = count(query, "from", Number.MAX_SAFE_INTEGER);
    const limit = count(query, "limit", STATUS_PAGE.metrics.max);
    return json(unwrap(await jobStatus(ctx, jobId, { from, limit })).job);
  });
}

/** `?jobs=`, `?nodes=`, `?from=` or `?limit=`: an integer in [0, max]. */
function count(query: URLSearchParams, name: string, max: number): number | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > max) {
    throw new HttpError(400, `Invalid query "${name}": expected an integer in [0, ${max}]`, {
      code: "INVALID_FIELD",
    });
  }
  return n;
}

export default {
  fetch: async (req: Request) => createStatus(await contextFromEnv())(req),
};
