/**
 * POST /aggregate {jobId?} — closes rounds (lib/coordinator/round_close.ts): for the job, or
 * every running job, whose round may close (all updates in, quorum, or the deadline), combines
 * the updates through the job's combine plan, applies them, stores the checkpoint in SVDB,
 * closes the round on chain, adds the checkpoint to ModelRegistry and moves tasks of dropped
 * nodes to spares. Answers one outcome per job. Also run every minute from Deno.cron.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import {
  aggregateAll,
  aggregateJob,
  type AggregateOutcome,
} from "../lib/coordinator/round_close.ts";
import { field, handler, HttpError, json, readJson, unwrap } from "./_http.ts";

const wire = ({ ok: _, ...outcome }: AggregateOutcome) => outcome;

/** Creates the aggregate handler over a context. */
export function createAggregate(ctx: Context) {
  return handler(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot aggregate: use POST");
    const body = req.headers.get("content-length") === "0" || !req.body ? {} : await readJson(req);
    if (body.jobId !== undefined) {
      return json([wire(unwrap(await aggregateJob(ctx, field.hex32(body, "jobId"))))]);
    }
    return json((await aggregateAll(ctx)).map(wire));
  });
}

export default {
  fetch: async (req: Request) => createAggregate(await contextFromEnv())(req),
};
