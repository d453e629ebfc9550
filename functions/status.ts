/**
 * GET /status[?job=<jobId>] — jobs (rounds, validation loss per round, assigned and reassigned
 * nodes, settlement) and bound nodes, for dashboards and for workers deciding what to do.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { jobStatus, overview } from "../lib/coordinator/status.ts";
import { handler, HttpError, json, unwrap } from "./_http.ts";

/** Creates the status handler over a context. */
export function createStatus(ctx: Context) {
  return handler(async (req) => {
    if (req.method !== "GET") throw new HttpError(405, "Cannot read status: use GET");
    const jobId = new URL(req.url).searchParams.get("job");
    if (jobId === null) return json(await overview(ctx));
    if (!/^0x[0-9a-fA-F]{64}$/.test(jobId)) {
      throw new HttpError(400, 'Invalid query "job": expected 32-byte hex');
    }
    return json(unwrap(await jobStatus(ctx, jobId)).job);
  });
}

export default {
  fetch: async (req: Request) => createStatus(await contextFromEnv())(req),
};
