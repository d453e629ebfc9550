/**
 * /secagg — secure aggregation of a job's open round (lib/coordinator/secure_round.ts).
 *
 * GET /secagg?jobId=&round=&node= -> the session (SecAgg+ config, anchor block) and what `node`
 * should do now: its request of the open stage, whether it is invited and has answered, or how
 * the session ended (404 NO_SESSION before the first node delivered its envelope). Without
 * `node`: whom the open stage waits for.
 *
 * POST /secagg {jobId, round, attempt, nodePubkey, message, signature} -> 201 when the stage
 * message is taken, 200 for a retry of it; `message` is the library's ClientMessage as JSON (a
 * masked input as `{stage, id, cid}` of its SVDB upload), signed by the node key over the
 * session's context. Refusals carry the library's codes (WRONG_STAGE, NOT_INVITED, DUPLICATE,
 * MALFORMED, BAD_SIGNATURE) or ROUND_NOT_OPEN, NO_COMMITTED_UPDATE, FOREIGN_MESSAGE. A message
 * `{stage: "Accuse", id, accused}` names the neighbour whose share did not open (while masked
 * inputs are taken; NOT_A_SENDER, ALREADY_MASKED): the next attempt, and the job's later
 * rounds, leave both out; the accuser's masked input is then refused (ACCUSED).
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { receiveSecureMessage, secureRoundView } from "../lib/coordinator/secure_round.ts";
import type { SecurePost } from "../lib/round/secure_session.ts";
import { field, handler, HttpError, json, MAX_BODY_BYTES, readJson, unwrap } from "./_http.ts";

/** The post of a request body (400 naming the field that is wrong). */
function parsePost(body: Record<string, unknown>): SecurePost {
  return {
    jobId: field.hex32(body, "jobId"),
    round: field.int(body, "round", 0, 100_000),
    attempt: field.int(body, "attempt", 0, 1_000),
    nodePubkey: field.hex32(body, "nodePubkey"),
    message: field.string(body, "message", { max: MAX_BODY_BYTES }),
    signature: field.hex(body, "signature", 64),
  };
}

/** The query of a GET (400 naming the parameter that is wrong). */
function parseQuery(url: URL) {
  const q = Object.fromEntries(url.searchParams) as Record<string, unknown>;
  if (q.round !== undefined) q.round = Number(q.round);
  return {
    jobId: field.hex32(q, "jobId"),
    round: q.round === undefined ? undefined : field.int(q, "round", 0, 100_000),
    node: q.node === undefined ? undefined : field.hex32(q, "node"),
  };
}

/** Creates the secure-aggregation handler over a context. */
export function createSecagg(ctx: Context) {
  return handler(async (req) => {
    if (req.method === "GET") {
      return json(unwrap(await secureRoundView(ctx, parseQuery(new URL(req.url)))).view);
    }
    if (req.method !== "POST") throw new HttpError(405, "Cannot run secure round: GET or POST");
    const post = parsePost(await readJson(req));
    const { status } = unwrap(await receiveSecureMessage(ctx, post));
    return json({ ok: true }, status);
  });
}

export default {
  fetch: async (req: Request) => createSecagg(await contextFromEnv())(req),
};
