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
import { resolveParams } from "../privacy/secure_aggregation/params.ts";
import { ACCUSE_STAGE, type SecurePost, verifySecurePost } from "../round/secure_session.ts";
import type { Context } from "./context.ts";
import { reject, type Rejection } from "./result.ts";
import { messageKey, messagesKey, readSession, type SessionEntry } from "./_secure_store.ts";

/** The accused neighbour a post names, when the post is an accusation. */
export function accusationOf(post: SecurePost): { accused: unknown } | undefined {
  try {
    const m = JSON.parse(post.message);
    return m?.stage === ACCUSE_STAGE ? { accused: m.accused } : undefined;
  } catch {
    return undefined; // not JSON: the stage's own checks refuse it
  }
}

/**
 * Records `post`'s accusation: signed by its node, a roster member accusing one of its
 * neighbours, while the attempt takes masked inputs (when shares are opened), once per node
 * and attempt, and not from a node whose masked input is in (it opened every share).
 */
export async function takeAccusation(
  ctx: Context,
  entry: SessionEntry,
  post: SecurePost,
  accused: unknown,
): Promise<{ ok: true; status: 200 | 201 } | Rejection> {
  const s = entry.value;
  const refuse = (status: number, code: string, why: string) =>
    reject(status, code, `Cannot take accusation: ${why}`);
  if (!verifySecurePost(post, s.config.context)) {
    return refuse(401, "BAD_SIGNATURE", "not signed by its node");
  }
  if (JSON.parse(post.message).id !== post.nodePubkey) {
    return refuse(403, "FOREIGN_MESSAGE", "its id is not the signer");
  }
  if (s.stage !== "MaskedInputCollection") {
    return refuse(409, "WRONG_STAGE", `the session is at ${s.stage}, not taking masked inputs`);
  }
  const neighbours = resolveParams(s.config).neighbours.get(post.nodePubkey) ?? [];
  if (typeof accused !== "string" || !neighbours.includes(accused)) {
    return refuse(422, "NOT_A_NEIGHBOUR", `${String(accused)} is no neighbour of the accuser`);
  }
  const masked = messageKey(s, "MaskedInputCollection", post.nodePubkey);
  if ((await ctx.kv.get(masked)).versionstamp) {
    return refuse(409, "ALREADY_MASKED", "the accuser's masked input is in");
  }
  const key = messageKey(s, ACCUSE_STAGE, post.nodePubkey);
  const res = await ctx.kv.atomic().check({ key, versionstamp: null }).set(key, accused).commit();
  if (res.ok) return { ok: true, status: 201 };
  const before = (await ctx.kv.get<string>(key)).value;
  if (before === accused) return { ok: true, status: 200 };
  return refuse(409, "DUPLICATE", "another accusation of this node is in");
}

/**
 * The nodes the round's attempts 0..`last` leave out of the next: both ends of a maximal
 * matching of their accusations, taken in a fixed order (so every run leaves out the same).
 */
export async function accusedOut(
  ctx: Context,
  at: { jobId: string; round: number; last: number },
): Promise<Set<string>> {
  const edges: [string, string][] = [];
  for (let attempt = 0; attempt <= at.last; attempt++) {
    const s = (await readSession(ctx.kv, at.jobId, at.round, attempt))?.value;
    if (!s) continue;
    const prefix = messagesKey(s, ACCUSE_STAGE);
    for await (const e of ctx.kv.list<string>({ prefix })) {
      edges.push([String(e.key[prefix.length]), e.value.toLowerCase()]);
    }
  }
  edges.sort((a, b) => a.join().localeCompare(b.join()));
  const out = new Set<string>();
  for (const [u, v] of edges) {
    if (out.has(u) || out.has(v)) continue;
    out.add(u).add(v);
  }
  return out;
}
