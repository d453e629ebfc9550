/**
 * POST /finalize {jobId?} — settles completed jobs (lib/coordinator/finalize.ts): reports the
 * validation improvement (it unlocks the accuracy bonus when it meets the owner's target),
 * ProofOfCompute.finalize credits every node's reward and refunds the rest of the escrow, and
 * the final weights are exported as the Hugging Face-style model folder (`modelFolderCid`).
 * Idempotent. Also run every minute from Deno.cron.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { finalizeAll, finalizeOne } from "../lib/coordinator/finalize.ts";
import { field, handler, HttpError, json, readJson, unwrap } from "./_http.ts";

/** Creates the finalize handler over a context. */
export function createFinalize(ctx: Context) {
  return handler(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot finalize: use POST");
    const body = req.headers.get("content-length") === "0" || !req.body ? {} : await readJson(req);
    if (body.jobId !== undefined) {
      return json([unwrap(await finalizeOne(ctx, field.hex32(body, "jobId"))).job]);
    }
    return json(await finalizeAll(ctx));
  });
}

export default {
  fetch: async (req: Request) => createFinalize(await contextFromEnv())(req),
};
