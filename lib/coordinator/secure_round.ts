/**
 * Secure aggregation in a job's rounds (jobs with `secureAggregation`): the coordinator runs one
 * SecAgg+ server per round attempt and learns only the sum of the included nodes' updates.
 *
 * - A session opens when the first node that delivered its envelope (digests committed on chain)
 *   asks for it; its roster is the round's assigned nodes and its graph seed comes from the hash
 *   of the latest block then, mined after the roster was fixed (lib/round/secure_session.ts).
 * - Nodes post signed stage messages ({@link receiveSecureMessage}) and read their next request
 *   ({@link secureRoundView}). A stage closes when every node it waits for answered, or when its
 *   deadline passes: AdvertiseKeys at the round's quorum (aggregate backstop only) or deadline,
 *   later stages `stageMs` after they opened ({@link advanceSecureRound}).
 * - The round's close ({@link fixSecureClosingSet}) takes the finished session's included nodes
 *   as its closing set; a failed session (too few survivors or shares) extends the round, and
 *   the next attempt opens with fresh keys and a fresh seed, over the assigned nodes that sent no
 *   masked input in an earlier attempt: a node sends one in a single attempt per round
 *   (lib/worker/secure_aggregation.ts), so two sums never differ by one node's update.
 * - With a privacy policy the budget is checked before the session may move on from
 *   MaskedInputCollection, against the worst sum it could still release (every possible input in
 *   it, noise at its minimum sigma): an over-budget round never reaches Unmasking, so no sum is
 *   ever released for it ({@link mayUnmask}).
 * - KV is the truth (./_secure_store.ts): the head and every accepted message; the unmasked
 *   ring sum goes to SVDB ({@link secureSum}).
 */
import type { Hex } from "../crypto/digest.ts";
import type { JobSpec } from "../job/job_spec.ts";
import type { RoundDecision } from "../job/round_policy.ts";
import { decodeFixedPoint } from "../privacy/secure_aggregation/fixed_point.ts";
import type { ClientMessage, RejectCode } from "../privacy/secure_aggregation/messages.ts";
import {
  MAX_SECURE_ATTEMPTS,
  roundMinSurvivors,
  type SecurePost,
  secureRoundConfig,
  type SecureRoundView,
  secureSeed,
  verifySecurePost,
} from "../round/secure_session.ts";
import { resolveParams } from "../privacy/secure_aggregation/params.ts";
import { pruneBelowThreshold } from "../privacy/secure_aggregation/graph.ts";
import { ROUND_NOT_OPEN } from "../worker/task.ts";
import { BudgetExceededError } from "../privacy/rdp_accountant.ts";
import type { Context } from "./context.ts";
import { type Closing, closingKey, type ClosingStep, SECURE_FAILED_REASON } from "./closing.ts";
import { loadSpec } from "./job.ts";
import { secureRoundPrivacy } from "./privacy.ts";
import {
  accusationKey,
  accusationOf,
  accusedOut,
  jobAccusations,
  jobProven,
  takeAccusation,
} from "./_secure_accusations.ts";
import { reject, RejectedError, type Rejection } from "./result.ts";
import {
  commitLarge,
  getJob,
  getLarge,
  type JobRecord,
  listValues,
  roundUpdates,
  setLarge,
  updateKey,
  type UpdateRecord,
  withAssignment,
} from "./state.ts";
import {
  canonicalText,
  clientMessage,
  countKey,
  exclusive,
  forgetServer,
  liveServer,
  messageKey,
  messagesKey,
  readSession,
  type SecureSession,
  type SessionEntry,
  SUM_HEADER_BYTES,
} from "./_secure_store.ts";
import {
  advanceSecureRound,
  currentSession,
  openSession,
  type SessionAnchor,
  sessionAnchor,
} from "./_secure_session.ts";

export type { SecureResult, SecureSession } from "./_secure_store.ts";
export { advanceSecureRound, currentSession } from "./_secure_session.ts";

/** The closing reason of a securely aggregated round. */
export const SECURE_CLOSE_REASON = "secure-aggregation";

export { SECURE_FAILED_REASON } from "./closing.ts";

const STATUS_OF: Record<RejectCode, number> = {
  WRONG_STAGE: 409,
  UNKNOWN_CLIENT: 403,
  NOT_INVITED: 403,
  DUPLICATE: 409,
  MALFORMED: 422,
  BAD_SIGNATURE: 401,
  BAD_SHARE: 422,
};

/** A secure job's open round, or why there is none. */
async function openRound(
  ctx: Context,
  jobId: Hex,
  round: number | undefined,
): Promise<{ job: JobRecord; spec: JobSpec } | Rejection> {
  const head = (await getJob(ctx.kv, jobId)).value;
  if (!head) return reject(404, "UNKNOWN_JOB", "Cannot run secure round: unknown job");
  if (head.status !== "running") {
    return reject(409, "JOB_NOT_RUNNING", `Cannot run secure round: job is ${head.status}`);
  }
  if (round !== undefined && round !== head.round) {
    const why = `Cannot run secure round: round ${round} is not the open round ${head.round}`;
    return reject(409, ROUND_NOT_OPEN, why);
  }
  const spec = await loadSpec(ctx.store, head.specCid);
  if (!spec.secureAggregation) {
    return reject(409, "NOT_SECURE", "Cannot run secure round: the job does not use it");
  }
  // A secure round's cohort is small (SecAgg+ is quadratic in it): the whole assignment is read,
  // but only now. Read first, anyone's GET /secagg of a large job without secure aggregation cost
  // a KV read per node (found in the node routes audit).
  return { job: await withAssignment(ctx.kv, head), spec };
}

/**
 * `GET /secagg`: the open round's session and, for `node`, what it should do now. A node that
 * delivered its envelope opens the session (or the next attempt after a failed one).
 */
export async function secureRoundView(
  ctx: Context,
  q: { jobId: Hex; round?: number; node?: Hex },
): Promise<{ ok: true; view: SecureRoundView } | Rejection> {
  const open = await openRound(ctx, q.jobId, q.round);
  if ("ok" in open) return open;
  const { job, spec } = open;
  let entry = await currentSession(ctx, job);
  if ((!entry || entry.value.extended) && q.node && await hasDelivered(ctx, job, q.node)) {
    entry = await openNext(ctx, job, spec, entry) ?? entry;
  }
  if (!entry) return reject(404, "NO_SESSION", "Cannot show secure round: no session yet");
  const now = await advance(ctx, job, spec, entry, { quorum: false });
  const { round, attempt } = now.value;
  const view = await exclusive(ctx, now.value, async () => {
    return await viewOf(ctx, (await readSession(ctx.kv, job.jobId, round, attempt))!, q.node);
  });
  return { ok: true, view };
}

/**
 * `POST /secagg`: one node's signed stage message. A node joins at AdvertiseKeys only after its
 * envelope is in; a retry of a stored message is answered 200, another message 409.
 */
export async function receiveSecureMessage(
  ctx: Context,
  post: SecurePost,
): Promise<{ ok: true; status: 200 | 201 } | Rejection> {
  const open = await openRound(ctx, post.jobId, post.round);
  if ("ok" in open) return open;
  const { job, spec } = open;
  const entry = await readSession(ctx.kv, job.jobId, job.round, post.attempt);
  if (!entry) return reject(404, "NO_SESSION", "Cannot take message: no such attempt");
  const s = entry.value;
  const accusation = accusationOf(post);
  if (accusation) return await takeAccusation(ctx, entry, post, accusation);
  const refused = await checkPost(ctx, job, s, post);
  if (refused) return refused;
  // Signed as sent; stored, replayed and compared with a retry as its stage's fields alone.
  post = { ...post, message: canonicalText(post.message) };
  const key = messageKey(s, s.stage, post.nodePubkey);
  const stored = (await getLarge<string>(ctx.kv, key)).value;
  if (stored !== null) return retried(stored, post);
  const stranger = await checkInvited(ctx, entry, post);
  if (stranger) return stranger;
  let msg: ClientMessage;
  try {
    msg = await clientMessage(ctx, post.message, s.config);
  } catch (e) {
    return reject(422, "MALFORMED", `Cannot take message: ${(e as Error).message}`);
  }
  const taken = await exclusive(ctx, s, () => takeMessage(ctx, entry, post, msg));
  if (!taken.ok) return taken;
  await advance(ctx, job, spec, entry, { quorum: false });
  return taken;
}

/**
 * The round's next attempt, over the nodes assigned at the anchor block that sent no masked
 * input in an earlier one (they refuse to send another) and are not left out for an accusation
 * (./_secure_accusations.ts); undefined when fewer than the round's
 * minimum survivors remain or the round had its last attempt. The roster is the chain's, as workers check
 * it, not the job record's, which trails a reassignment by a moment.
 */
async function openNext(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  seen: SessionEntry | undefined,
): Promise<SessionEntry | undefined> {
  const next = await nextRoster(ctx, job, spec, seen);
  if (!next) return undefined;
  const { anchor, roster } = next;
  // A first attempt is the whole roster (workers check it): with nodes left out for earlier
  // rounds' accusations the round's first session is an attempt 1 (a retry's roster).
  const first = seen === undefined && roster.length < anchor.roster.length ? 1 : 0;
  const at = { ...job, assigned: roster as Hex[] };
  return await openSession(ctx, at, spec, seen?.value.attempt, anchor, first);
}

/** The roster the attempt after `seen` would open over, and its anchor; undefined: none can. */
async function nextRoster(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  seen: SessionEntry | undefined,
): Promise<{ anchor: SessionAnchor; roster: string[] } | undefined> {
  const spent = new Set<string>();
  const last = seen?.value.attempt ?? -1;
  for (let attempt = 0; attempt <= last; attempt++) {
    const s = (await readSession(ctx.kv, job.jobId, job.round, attempt))?.value;
    if (s) { for (const n of await maskedInputsOf(ctx, s)) spent.add(n); }
  }
  if (last + 1 >= MAX_SECURE_ATTEMPTS) return undefined;
  const anchor = await sessionAnchor(ctx, job);
  const roster = await rosterLeft(ctx, job, spec, { anchor, spent });
  return roster ? { anchor, roster } : undefined;
}

/**
 * The anchor roster less the nodes that sent a masked input (`spent`) and those the job's
 * accusations leave out, and less the nodes the graph restricted to the rest leaves below the
 * threshold (they would drop out at once, and their neighbours after them: found reviewing the
 * restricted retries). Found reviewing the accusations too: carried to later rounds, they could
 * leave too few for any session, so one false accusation in a small job stopped it for good;
 * accusations of earlier rounds are then set aside, then this round's; proven dealers never are.
 * Undefined when fewer than the round's minimum survivors (roundMinSurvivors) would remain all
 * the same.
 */
async function rosterLeft(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  at: { anchor: SessionAnchor; spent: Set<string> },
): Promise<string[] | undefined> {
  const { anchor, spent } = at;
  const min = roundMinSurvivors(spec, anchor.roster.length);
  const accusations = await jobAccusations(ctx, job.jobId);
  const proven = await jobProven(ctx, job.jobId);
  for (const since of [0, job.round, Infinity]) {
    const accused = accusedOut(accusations, since, proven);
    const roster = viable(
      ctx,
      job,
      spec,
      anchor,
      anchor.roster.filter((n) => !spent.has(n) && !accused.has(n)),
    );
    if (roster.length >= min) return roster;
  }
  return undefined;
}

/** `roster` less the nodes its graph (the anchor's, restricted) leaves below the threshold. */
function viable(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  anchor: SessionAnchor,
  roster: string[],
): string[] {
  if (roster.length === anchor.roster.length) return roster;
  const seed = secureSeed(
    { chainId: ctx.chain.chainId, jobId: job.jobId, round: job.round },
    anchor.hash,
  );
  let params;
  try {
    const at = { context: "viability", seed, clients: roster, assigned: anchor.roster };
    params = resolveParams(secureRoundConfig(spec, at));
  } catch (e) {
    if (e instanceof RangeError) return []; // too few for the protocol
    throw e;
  }
  const live = new Set(roster);
  pruneBelowThreshold(live, params);
  return roster.filter((n) => live.has(n));
}

/** The nodes whose masked input the attempt stored. */
async function maskedInputsOf(ctx: Context, s: SecureSession): Promise<string[]> {
  const prefix = messagesKey(s, "MaskedInputCollection");
  const nodes: string[] = [];
  for await (const e of ctx.kv.list({ prefix })) nodes.push(String(e.key[prefix.length]));
  return nodes;
}

/** Closes the open stage when it may; never finishes Unmasking of an over-budget round. */
async function advance(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  entry: SessionEntry,
  options: { quorum: boolean },
): Promise<SessionEntry> {
  if (!await mayUnmask(ctx, job, spec, entry.value)) return entry;
  return await advanceSecureRound(ctx, job, spec, entry, options);
}

/**
 * Whether the session may go on towards unmasking: always before MaskedInputCollection (a close
 * moves it one stage); from there only when the round is within every data owner's budget at
 * the worst the sum could be: every node that may still send a masked input (the roster) or did
 * (after), its noise at the minimum sigma (z x clip) the protocol guarantees for any survivors.
 * So an over-budget round stops before nodes send their unmasking shares.
 */
async function mayUnmask(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  s: SecureSession,
): Promise<boolean> {
  const guarded = ["MaskedInputCollection", "ConsistencyCheck", "Unmasking"];
  if (!spec.privacy || !guarded.includes(s.stage)) return true;
  const nodes = s.stage === "MaskedInputCollection"
    ? s.config.clients
    : await maskedInputsOf(ctx, s);
  try {
    secureRoundPrivacy(spec, job, nodes);
    return true;
  } catch (e) {
    if (e instanceof BudgetExceededError) return false;
    throw e;
  }
}

/** The server takes the message, then KV stores it (once, while the stage is open). */
async function takeMessage(
  ctx: Context,
  entry: SessionEntry,
  post: SecurePost,
  msg: ClientMessage,
): Promise<{ ok: true; status: 200 | 201 } | Rejection> {
  const s = entry.value;
  const closed = () =>
    reject(409, "WRONG_STAGE", `Cannot take message: ${s.stage} closed meanwhile`);
  const head = await readSession(ctx.kv, s.jobId, s.round, s.attempt);
  if (head?.versionstamp !== entry.versionstamp) return closed();
  const key = messageKey(s, s.stage, post.nodePubkey);
  // A node that accused a neighbour in this attempt sends no masked input in it: its victim is
  // left out of the next attempt with it (./_secure_accusations.ts).
  const accused = accusationKey(s, post.nodePubkey);
  if (s.stage === "MaskedInputCollection" && (await ctx.kv.get(accused)).versionstamp) {
    return reject(409, "ACCUSED", "Cannot take message: this node accused a neighbour instead");
  }
  const live = await liveServer(ctx, entry);
  const receipt = await live.server.receive(msg);
  if (!receipt.ok) return reject(STATUS_OF[receipt.code], receipt.code, receipt.message);
  live.applied.add(post.nodePubkey);
  const op = ctx.kv.atomic().check(entry).check({ key, versionstamp: null })
    .check({ key: accused, versionstamp: null });
  const res = await setLarge(op, key, post.message).sum(countKey(s, s.stage), 1n).commit();
  if (res.ok) return { ok: true, status: 201 };
  forgetServer(ctx, s); // the server took a message KV did not store
  const now = (await getLarge<string>(ctx.kv, key)).value;
  return now !== null ? retried(now, post) : closed();
}

/** Refuses a post not signed by its node, in another's name, of another stage, or too early. */
async function checkPost(
  ctx: Context,
  job: JobRecord,
  s: SecureSession,
  post: SecurePost,
): Promise<Rejection | undefined> {
  if (!verifySecurePost(post, s.config.context)) {
    return reject(401, "BAD_SIGNATURE", "Cannot take message: not signed by its node");
  }
  let head: { stage?: unknown; id?: unknown };
  try {
    head = JSON.parse(post.message);
  } catch {
    return reject(400, "MALFORMED", "Cannot take message: not JSON");
  }
  if (head?.id !== post.nodePubkey) {
    return reject(403, "FOREIGN_MESSAGE", "Cannot take message: its id is not the signer");
  }
  if (head.stage !== s.stage) {
    return reject(409, "WRONG_STAGE", `Cannot take message: the session is at ${s.stage}`);
  }
  if (s.stage === "AdvertiseKeys" && !await hasDelivered(ctx, job, post.nodePubkey)) {
    const why = "Cannot take message: post the round's envelope (commitRound) first";
    return reject(409, "NO_COMMITTED_UPDATE", why);
  }
  return undefined;
}

/**
 * After AdvertiseKeys only the nodes the stage asks may post: a masked input names an upload the
 * coordinator reads, and any Ed25519 key made it read any stored file in full before the
 * library's own check refused the stranger.
 */
async function checkInvited(
  ctx: Context,
  entry: SessionEntry,
  post: SecurePost,
): Promise<Rejection | undefined> {
  if (entry.value.stage === "AdvertiseKeys") return undefined;
  const { requests } = await liveServer(ctx, entry);
  if (requests.has(post.nodePubkey)) return undefined;
  const why = `Cannot take message: ${entry.value.stage} does not ask ${post.nodePubkey}`;
  return reject(403, "NOT_INVITED", why);
}

function retried(stored: string, post: SecurePost): { ok: true; status: 200 } | Rejection {
  if (stored === post.message) return { ok: true, status: 200 };
  return reject(409, "DUPLICATE", "Cannot take message: another message of this node is in");
}

/** What the view shows `node` (or, without one, whom the stage waits for). */
async function viewOf(ctx: Context, entry: SessionEntry, node?: Hex): Promise<SecureRoundView> {
  const s = entry.value;
  const { jobId, round, attempt, anchorBlock, blockHash, config } = s;
  const base = {
    session: { jobId, round, attempt, anchorBlock, blockHash, config },
    stage: s.stage,
    invited: false,
    answered: false,
  };
  if (s.stage === "Done") {
    const { included } = s.result!;
    const mine = node ? { included: included.includes(node) } : {};
    return { ...base, status: "done", ...mine, includedCount: included.length };
  }
  if (s.stage === "Failed") return { ...base, status: "failed", failure: s.failure?.message };
  const live = await liveServer(ctx, entry);
  const expected = s.stage === "AdvertiseKeys" ? config.clients : [...live.requests.keys()];
  if (!node) {
    const answered = new Set<string>();
    const prefix = messagesKey(s, s.stage);
    for await (const e of ctx.kv.list({ prefix })) answered.add(String(e.key[prefix.length]));
    return { ...base, status: "open", waitingFor: expected.filter((id) => !answered.has(id)) };
  }
  const answered = (await ctx.kv.get(messageKey(s, s.stage, node))).versionstamp !== null;
  const request = live.requests.get(node);
  return {
    ...base,
    status: "open",
    invited: expected.includes(node),
    answered,
    ...(request ? { request } : {}),
  };
}

async function hasDelivered(ctx: Context, job: JobRecord, node: string): Promise<boolean> {
  return (await ctx.kv.get(updateKey(job.jobId, job.round, node))).versionstamp !== null;
}

/**
 * The closing set of a secure round (round_close's first step): the included nodes once the
 * session finished; an `insufficient` decision (the round is extended, dead nodes' tasks move to
 * spares and the next attempt opens) when it failed or nobody delivered by the deadline;
 * otherwise waiting.
 */
export async function fixSecureClosingSet(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
): Promise<ClosingStep> {
  const key = closingKey(job.jobId, job.round);
  const recorded = (await getLarge<Closing>(ctx.kv, key)).value;
  if (recorded) return { fixed: true, closing: recorded };
  const delivered = (await listValues<UpdateRecord>(ctx.kv, roundUpdates(job.jobId, job.round)))
    .map((u) => u.nodePubkey);
  let entry = await currentSession(ctx, job);
  if ((!entry || entry.value.extended) && delivered.length > 0) {
    entry = await openNext(ctx, job, spec, entry) ?? entry;
  }
  if (entry) entry = await advance(ctx, job, spec, entry, { quorum: true });
  if (entry && !await mayUnmask(ctx, job, spec, entry.value)) {
    const why = "Cannot aggregate: the round's sum would take a data owner over the budget";
    throw new RejectedError(reject(409, "PRIVACY_BUDGET_EXCEEDED", why));
  }
  const got = new Set(delivered);
  const missing = job.assigned.filter((n) => !got.has(n)).sort();
  const decision = (close: boolean, reason: RoundDecision["reason"]): ClosingStep => ({
    fixed: false,
    decision: {
      close,
      ok: !close,
      reason,
      received: delivered.length,
      quorum: 0,
      missing,
      unexpected: [],
    },
  });
  const s = entry?.value;
  if (s?.stage === "Done") {
    const nodes = [...s.result!.included].sort();
    return await fixClosing(ctx, key, { nodes, delivered: nodes, reason: SECURE_CLOSE_REASON });
  }
  // An attempt failed naming a dealer of bad shares, every assigned node delivered, and no attempt
  // can open over them (each sent its masked input in the failed one, or the rest are too few): no
  // later deadline changes that, as no task moves. Found in the secure aggregation audit: such a
  // round was extended for good, so one such dealer froze the job at round 0; it is left out from
  // here on. Only for a named dealer: nodes that withhold their masked inputs would otherwise have
  // every round close empty and paid (found reviewing this), where a frozen job is abandoned and
  // its budget refunded.
  const dealer = s?.stage === "Failed" && s.failure?.dealer !== undefined;
  if (dealer && missing.length === 0 && !await nextRoster(ctx, job, spec, entry)) {
    const closing = { nodes: [], delivered: [...got].sort(), reason: SECURE_FAILED_REASON };
    return await fixClosing(ctx, key, closing);
  }
  if (s?.stage === "Failed" && !s.extended) {
    await setLarge(ctx.kv.atomic().check(entry!), entry!.key, { ...s, extended: true }).commit();
    return decision(true, "insufficient");
  }
  // No session yet, or none could open after a failed one (fewer than two nodes without a spent
  // input): extend the round once per deadline, so dead nodes' tasks move to spares.
  const stuck = !s || (s.stage === "Failed" && s.extended);
  const late = stuck && ctx.now() - job.roundOpenedAt >= spec.aggregation.deadlineMs;
  return late ? decision(true, "insufficient") : decision(false, "waiting");
}

/**
 * Records the closing set in parts (state.ts commitLarge), as the plain closing set: in one
 * commit a 10,000-node set (nodes and delivered) exceeds KV's 800 KiB, and the round could never
 * close.
 */
async function fixClosing(ctx: Context, key: Deno.KvKey, closing: Closing): Promise<ClosingStep> {
  return { fixed: true, closing: await commitLarge<Closing>(ctx.kv, key, closing) };
}

/**
 * The finished session's unmasked sum (decoded from the ring), who is in it and the bytes of the
 * masked inputs it came from. (The noise std it carries stays in the session's record; the
 * accountant charges the policy's, secureRoundPrivacy.)
 *
 * @throws {Error} when the round's session has not finished
 */
export async function secureSum(
  ctx: Context,
  job: JobRecord,
): Promise<{ sum: Float64Array; included: string[]; bytes: number }> {
  const r = (await currentSession(ctx, job))?.value.result;
  if (!r) throw new Error(`Cannot read secure sum: round ${job.round} has not finished`);
  const stored = await ctx.store.get(r.sumCid);
  const words = new Uint32Array(stored.slice(r.sumHeader ? SUM_HEADER_BYTES : 0).buffer);
  return {
    sum: decodeFixedPoint(words, r.scale),
    included: r.included,
    bytes: r.maskedBytes,
  };
}
