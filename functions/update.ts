/**
 * POST /aggregate/update — one worker's signed round update (lib/coordinator/intake.ts):
 * 201 when stored, 200 for a retry of the same update; refusals carry a stable code, e.g.
 * ROUND_NOT_OPEN (409) for an update of a round that is not open.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { receiveUpdate } from "../lib/coordinator/intake.ts";
import { proofsFromJson, type SignedUpdateEnvelope } from "../lib/round/update_envelope.ts";
import { SECURE_UPDATE_CID } from "../lib/round/secure_session.ts";
import { field, handler, HttpError, json, readJson, unwrap } from "./_http.ts";

/** The signed envelope of a request body (400 naming the field that is wrong). */
export function parseEnvelope(body: Record<string, unknown>): SignedUpdateEnvelope {
  const env: SignedUpdateEnvelope = {
    jobId: field.hex32(body, "jobId"),
    round: field.int(body, "round", 0, 100_000),
    nodePubkey: field.hex32(body, "nodePubkey"),
    updateCid: field.cid(body, "updateCid", [SECURE_UPDATE_CID]),
    samples: field.int(body, "samples", 1, 2 ** 31),
    steps: field.int(body, "steps", 1, 2 ** 31),
    meanLoss: field.number(body, "meanLoss", 0, 1e6),
    lossDigest: field.hex32(body, "lossDigest"),
    gradientDigest: field.hex32(body, "gradientDigest"),
    weightsDigest: field.hex32(body, "weightsDigest"),
    proofsRoot: field.hex32(body, "proofsRoot"),
    proofs: [],
    signature: field.hex(body, "signature", 64),
  };
  try {
    env.proofs = proofsFromJson(body.proofs);
  } catch (e) {
    const message = `Invalid field "proofs": ${(e as Error).message}`;
    throw new HttpError(400, message, { code: "INVALID_FIELD" });
  }
  return env;
}

/** Creates the update-intake handler over a context. */
export function createUpdate(ctx: Context) {
  return handler(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot accept update: use POST");
    const env = parseEnvelope(await readJson(req));
    const { status, record } = unwrap(await receiveUpdate(ctx, env));
    return json(record, status);
  });
}

export default {
  fetch: async (req: Request) => createUpdate(await contextFromEnv())(req),
};
