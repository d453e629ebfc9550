/**
 * /assign — starts a job's training and hands out tasks.
 *
 * POST /assign {jobId, specCid, modelId?}, signed like an upload (path /assign) by the job's
 * owner: starts the job (lib/coordinator/start_job.ts): the spec must hash to the escrowed
 * paramsHash and modelId be the job owner's model of this job;
 * bound, live nodes the model fits are assigned on chain and the job is recorded. Idempotent: a
 * job already started is returned as it is.
 *
 * GET /assign?node=<pubkey>: the node's current task (lib/coordinator/tasks.ts): a cluster to
 * aggregate ({status:"cluster"}), a spot-checked round to recompute as a committee member
 * ({status:"validate"}), its training task ({status:"task", ...}), {status:"wait"} while its
 * update for the current round is in, or {status:"idle"}.
 */
import type { Hex } from "viem";
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { startJob } from "../lib/coordinator/start_job.ts";
import { nextTask } from "../lib/coordinator/tasks.ts";
import { verifySignedBody } from "../lib/coordinator/signed_request.ts";
import { field, handler, HttpError, json, readJsonBytes, unwrap } from "./_http.ts";

/** Creates the assign handler over a context. */
export function createAssign(ctx: Context) {
  return handler(async (req) => {
    if (req.method === "GET") {
      const node = new URL(req.url).searchParams.get("node")?.toLowerCase() ?? "";
      if (!/^0x[0-9a-f]{64}$/.test(node)) {
        throw new HttpError(400, 'Invalid query "node": expected 32-byte hex');
      }
      return json(unwrap(await nextTask(ctx, node as Hex)).task);
    }
    if (req.method !== "POST") throw new HttpError(405, "Cannot assign: use GET or POST");
    const { body, bytes } = await readJsonBytes(req);
    const jobId = field.hex32(body, "jobId");
    const specCid = field.string(body, "specCid", { max: 200 });
    const modelId = body.modelId === undefined ? undefined : field.hex32(body, "modelId");
    const request = { method: "POST", path: "/assign" };
    const { signer } = unwrap(await verifySignedBody(ctx, req.headers, bytes, request, "assign"));
    return json(unwrap(await startJob(ctx, { jobId, specCid, modelId, requester: signer })).job);
  });
}

export default {
  fetch: async (req: Request) => createAssign(await contextFromEnv())(req),
};
