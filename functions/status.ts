/**
 * GET /status[?job=<jobId>] — jobs (rounds, validation loss per round, assigned and reassigned
 * nodes, settlement) and bound nodes, for dashboards and for workers deciding what to do. Without
 * `job`, the most recently active jobs (`?jobs=`, default 50) and most recently seen nodes
 * (`?nodes=`, default 100), with `jobCount` and `nodeCount`.
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
      return json(
        await overview(ctx, { jobs: count(query, "jobs"), nodes: count(query, "nodes") }),
      );
    }
    if (!/^0x[0-9a-fA-F]{64}$/.test(jobId)) {
      throw new HttpError(400, 'Invalid query "job": expected 32-byte hex');
    }
    return json(unwrap(await jobStatus(ctx, jobId)).job);
  });
}

/** `?jobs=` or `?nodes=`: how many to list, within STATUS_PAGE's bound. */
function count(query: URLSearchParams, name: "jobs" | "nodes"): number | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  const n = Number(text);
  const max = STATUS_PAGE[name].max;
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
