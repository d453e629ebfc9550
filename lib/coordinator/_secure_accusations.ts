/**
 * Accusations in a secure round: a node whose neighbour's share did not open posts which
 * neighbour (lib/round/secure_session.ts ACCUSE_STAGE) and sends no masked input in that attempt.
 * The coordinator cannot check the share (it is sealed to the accuser), so it believes neither
 * side: the round's next attempt leaves out both ends of a maximal matching of the accusations. An
 * honest node accuses only a node that cheated it, so each matched pair holds a cheat, and a
 * cheat costs the round at most one honest node besides itself, however many it sends bad shares
 * to or accuses. Found in the secure aggregation audit: one node sending bad shares to its
 * neighbours knocked every one of them out of the round, and came back in every retry.
 */
import { ACCUSE_STAGE, type SecurePost, verifySecurePost } from "../round/secure_session.ts";
import type { Context } from "./context.ts";
import { reject, type Rejection } from "./result.ts";
import { liveServer, messageKey, type SecureSession, type SessionEntry } from "./_secure_store.ts";

/** Where an attempt keeps `node`'s accusation. */
export const accusationKey = (s: SecureSession, node: string): Deno.KvKey =>
  messageKey(s, ACCUSE_STAGE, node);

/** Who a post says it is and whom it accuses, when the post is an accusation. */
export function accusationOf(post: SecurePost): { id: unknown; accused: unknown } | undefined {
  try {
    const m = JSON.parse(post.message);
    return m?.stage === ACCUSE_STAGE ? { id: m.id, accused: m.accused } : undefined;
  } catch {
    return undefined; // not JSON: the stage's own checks refuse it
  }
}

/**
 * Records `post`'s accusation: signed by its node, naming a node whose share the attempt handed
 * it, while the attempt takes masked inputs (when shares are opened), once per node and attempt,
 * and not from a node whose masked input is in (it opened every share).
 */
export async function takeAccusation(
  ctx: Context,
  entry: SessionEntry,
  post: SecurePost,
  accusation: { id: unknown; accused: unknown },
): Promise<{ ok: true; status: 200 | 201 } | Rejection> {
  const s = entry.value;
  const { accused } = accusation;
  const refuse = (status: number, code: string, why: string) =>
    reject(status, code, `Cannot take accusation: ${why}`);
  if (!verifySecurePost(post, s.config.context)) {
    return refuse(401, "BAD_SIGNATURE", "not signed by its node");
  }
  if (accusation.id !== post.nodePubkey) {
    return refuse(403, "FOREIGN_MESSAGE", "its id is not the signer");
  }
  if (s.stage !== "MaskedInputCollection") {
    return refuse(409, "WRONG_STAGE", `the session is at ${s.stage}, not taking masked inputs`);
  }
  // Only a share the accuser was handed can fail to open: found reviewing this, a roster node
  // that took no part in the attempt could name any neighbour and have it left out for good.
  const request = (await liveServer(ctx, entry)).requests.get(post.nodePubkey);
  const shares = request?.stage === "MaskedInputCollection" ? request.shares : [];
  if (typeof accused !== "string" || !shares.some((sh) => sh.from === accused)) {
    return refuse(422, "NOT_A_SENDER", `${String(accused)} sent the accuser no share`);
  }
  const masked = messageKey(s, "MaskedInputCollection", post.nodePubkey);
  if ((await ctx.kv.get(masked)).versionstamp) {
    return refuse(409, "ALREADY_MASKED", "the accuser's masked input is in");
  }
  const key = accusationKey(s, post.nodePubkey);
  // Atomic with the masked input's absence: found reviewing this, a node could accuse an honest
  // neighbour and send its masked input all the same, its update in the sum and its victim out.
  const res = await ctx.kv.atomic().check({ key, versionstamp: null })
    .check({ key: masked, versionstamp: null }).set(key, accused)
    .set(jobAccusationKey(s.jobId, post.nodePubkey, accused), s.round).commit();
  if (res.ok) return { ok: true, status: 201 };
  const before = (await ctx.kv.get<string>(key)).value;
  if (before === accused) return { ok: true, status: 200 };
  if (before === null) return refuse(409, "ALREADY_MASKED", "the accuser's masked input is in");
  return refuse(409, "DUPLICATE", "another accusation of this node is in");
}

/**
 * Where the job keeps an accusation for its later rounds: found reviewing this, an attempt that
 * succeeded all the same (a cheat's neighbours a third of the roster or fewer) dropped its
 * accusations, and the cheat cost the job its neighbours' updates every round.
 */
const jobAccusationsKey = (jobId: string): Deno.KvKey => ["secaggAccused", jobId.toLowerCase()];
const jobAccusationKey = (jobId: string, accuser: string, accused: string): Deno.KvKey => [
  ...jobAccusationsKey(jobId),
  accuser.toLowerCase(),
  accused.toLowerCase(),
];

/** One of a job's accusations: accuser, accused, and the round it was made in. */
export type JobAccusation = [accuser: string, accused: string, round: number];

/** Every accusation of the job so far, in a fixed order (so every run matches the same). */
export async function jobAccusations(ctx: Context, jobId: string): Promise<JobAccusation[]> {
  const prefix = jobAccusationsKey(jobId);
  const out: JobAccusation[] = [];
  for await (const e of ctx.kv.list<number>({ prefix })) {
    out.push([String(e.key[prefix.length]), String(e.key[prefix.length + 1]), e.value]);
  }
  return out.sort((a, b) => `${a[0]},${a[1]}`.localeCompare(`${b[0]},${b[1]}`));
}

/**
 * Where the job keeps the dealers the protocol proved dealt shares of another secret than they
 * committed to (a failed session's `failure.dealer`). Unlike an accusation, this is no one's word:
 * the shares passed the dealer's own digests, so the dealer alone is left out, of every later
 * attempt and round of the job, and never set aside. Found in the secure aggregation audit: the
 * named dealer came back in every round, and each of its rounds lost every honest node's input.
 */
const provenKey = (jobId: string, dealer: string): Deno.KvKey => [
  "secaggProven",
  jobId.toLowerCase(),
  dealer.toLowerCase(),
];

/** `op` that also records `dealer` as proven in `round` of the job. */
export function recordProven(
  op: Deno.AtomicOperation,
  jobId: string,
  dealer: string,
  round: number,
): Deno.AtomicOperation {
  return op.set(provenKey(jobId, dealer), round);
}

/** The job's proven dealers (lower-case). */
export async function jobProven(ctx: Context, jobId: string): Promise<Set<string>> {
  const prefix = provenKey(jobId, "").slice(0, 2);
  const out = new Set<string>();
  for await (const e of ctx.kv.list<number>({ prefix })) out.add(String(e.key[prefix.length]));
  return out;
}

/**
 * The nodes `accusations` (those of round `sinceRound` on) leave out of a round's attempts after
 * its first (and of every attempt of a later round, whose first session is then an attempt 1):
 * both ends of a maximal matching of them, in their fixed order, after the `proven` dealers (an
 * accusation of one of them costs its accuser nothing).
 *
 * @example
 * ```ts
 * import { accusedOut } from "./_secure_accusations.ts";
 * const out = accusedOut([["a", "m", 0], ["b", "m", 0], ["c", "d", 1]], 0);
 * console.assert(out.size === 4 && out.has("m") && !out.has("b"));
 * const proven = accusedOut([["a", "m", 0], ["b", "c", 0]], 0, ["m"]);
 * console.assert(proven.size === 3 && !proven.has("a"));
 * ```
 */
export function accusedOut(
  accusations: readonly JobAccusation[],
  sinceRound: number,
  proven: Iterable<string> = [],
): Set<string> {
  const out = new Set<string>(proven);
  for (const [u, v, round] of accusations) {
    if (round < sinceRound || out.has(u) || out.has(v)) continue;
    out.add(u).add(v);
  }
  return out;
}
