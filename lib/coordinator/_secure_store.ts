/**
 * Where a secure round lives in KV, and its SecAgg+ server rebuilt from there. KV holds the
 * truth: the session head (config, open stage, result) and every accepted message, per stage;
 * masked inputs stay in SVDB (their uploads) and KV keeps their CIDs. The library's server keeps
 * its state in memory only, so a process that lacks it (a restart, another instance) replays the
 * stored messages stage by stage: a stage's close depends only on the set of messages it closed
 * over, so the replay reaches the same state. Each process caches the server it rebuilt, valid
 * while the head's versionstamp is unchanged.
 */
import { SecAggServer } from "../privacy/secure_aggregation/server.ts";
import type { ExclusionReason } from "../privacy/secure_aggregation/server.ts";
import type { SecAggConfig } from "../privacy/secure_aggregation/params.ts";
import {
  canonicalMessage,
  type ClientMessage,
  decodeMaskedInput,
  type ServerRequest,
} from "../privacy/secure_aggregation/messages.ts";
import {
  type MaskedInputRef,
  type SecureSessionInfo,
  type SessionStage,
  verifyNodeSignature,
} from "../round/secure_session.ts";
import type { Context } from "./context.ts";
import { getLarge } from "./state.ts";
import { privateFile } from "./svdb_private.ts";
import { BlockNotFoundError } from "../store/blockstore.ts";
import { hexToBytes, keccak256, stringToBytes } from "viem";

/** A session's head record. */
export interface SecureSession extends SecureSessionInfo {
  stage: SessionStage;
  stageOpenedAt: number;
  /** Messages that complete the open stage (the roster, then the requests sent). */
  expected: number;
  result?: SecureResult;
  /**
   * Why the session failed; `dealer` when the protocol proved a node dealt shares that rebuild
   * another secret than it committed to (InvalidShareError at Unmasking).
   */
  failure?: { code: string; message: string; at: number; dealer?: string };
  /** A failed session whose round was extended: the next attempt may open. */
  extended?: boolean;
}

/** What a finished session keeps: who is in the sum, the sum's CID, its DP noise. */
export interface SecureResult {
  included: string[];
  excluded: Record<string, ExclusionReason>;
  /** Std of the DP noise in the sum (library `SecAggResult.noiseStd`). */
  noiseStd: number;
  scale: number;
  /**
   * The ring sum (u32 little-endian words) in SVDB, after {@link SUM_HEADER_BYTES} naming the
   * session when `sumHeader` is set (results of older coordinators have none).
   */
  sumCid: string;
  sumHeader?: true;
  /** Bytes of the masked inputs in the sum. */
  maskedBytes: number;
}

/** Length of the header before a stored ring sum: the keccak of the session it ends. */
export const SUM_HEADER_BYTES = 32;

/**
 * The ring sum as stored: the session's digest, then the words. Found reviewing the release of
 * closed rounds: the nodes choose the sum's bytes (a masked input's range is not checked), so a
 * job's nodes could make it any pinned file of that length, and unpinning the sum unpinned that
 * file. Named by its session, it is no other file.
 */
export function storedSum(s: Pick<SecureSession, "jobId" | "round" | "attempt">, ring: Uint8Array) {
  const id = keccak256(
    stringToBytes(`artha/secure-sum/${s.jobId.toLowerCase()}/${s.round}/${s.attempt}`),
  );
  const out = new Uint8Array(SUM_HEADER_BYTES + ring.length);
  out.set(hexToBytes(id));
  out.set(ring, SUM_HEADER_BYTES);
  return out;
}

/** A stored head: its value and versionstamp (for atomic checks). */
export type SessionEntry = { key: Deno.KvKey; value: SecureSession; versionstamp: string };

/** KV key of a session head. */
export const sessionKey = (jobId: string, round: number, attempt: number): Deno.KvKey => [
  "secagg",
  jobId.toLowerCase(),
  round,
  attempt,
];
/** KV key of the round's current attempt number. */
export const currentAttemptKey = (jobId: string, round: number): Deno.KvKey => [
  "secaggAttempt",
  jobId.toLowerCase(),
  round,
];
/** KV prefix of a stage's messages. */
export const messagesKey = (s: SecureSession, stage: string): Deno.KvKey => [
  ...sessionKey(s.jobId, s.round, s.attempt),
  "msg",
  stage,
];
/** KV key of a node's message of a stage. */
export const messageKey = (s: SecureSession, stage: string, node: string): Deno.KvKey => [
  ...messagesKey(s, stage),
  node.toLowerCase(),
];
/** KV key of the count of a stage's messages (a KvU64, also what a close checks). */
export const countKey = (s: SecureSession, stage: string): Deno.KvKey => [
  ...sessionKey(s.jobId, s.round, s.attempt),
  "count",
  stage,
];

/** The head of attempt `attempt`, or undefined. */
export async function readSession(
  kv: Deno.Kv,
  jobId: string,
  round: number,
  attempt: number,
): Promise<SessionEntry | undefined> {
  const e = await getLarge<SecureSession>(kv, sessionKey(jobId, round, attempt));
  return e.value ? e as SessionEntry : undefined;
}

/** A server at the session's open stage, with the requests its last close sent. */
export interface LiveServer {
  versionstamp: string;
  server: SecAggServer;
  requests: Map<string, ServerRequest>;
  /** Nodes whose message of the open stage this server has taken. */
  applied: Set<string>;
}

const caches = new WeakMap<Context, Map<string, LiveServer>>();
const cacheOf = (ctx: Context) => caches.get(ctx) ?? caches.set(ctx, new Map()).get(ctx)!;
const idOf = (s: SecureSession) => `${s.jobId}:${s.round}:${s.attempt}`;

/** The session's server: this process's cached one while the head is unchanged, else rebuilt. */
export async function liveServer(ctx: Context, entry: SessionEntry): Promise<LiveServer> {
  const cached = cacheOf(ctx).get(idOf(entry.value));
  if (cached?.versionstamp === entry.versionstamp) return cached;
  const live = await rebuild(ctx, entry);
  cacheOf(ctx).set(idOf(entry.value), live);
  return live;
}

const tails = new WeakMap<Context, Map<string, Promise<unknown>>>();

/**
 * Runs `fn` after every earlier call for the same session in this process: a close never sees a
 * message its server took but KV has not stored yet (other processes are kept apart by the
 * atomic checks on the head and on the stage's message count).
 */
export function exclusive<T>(ctx: Context, s: SecureSession, fn: () => Promise<T>): Promise<T> {
  const m = tails.get(ctx) ?? tails.set(ctx, new Map()).get(ctx)!;
  const run = (m.get(idOf(s)) ?? Promise.resolve()).then(fn);
  m.set(idOf(s), run.catch(() => {}));
  return run;
}

/** Drops a cached server (after a write that did not land, or a stage it did not close). */
export function forgetServer(ctx: Context, s: SecureSession): void {
  cacheOf(ctx).delete(idOf(s));
}

/** Replays every stored message, closing each stage before the open one as it was closed. */
async function rebuild(ctx: Context, entry: SessionEntry): Promise<LiveServer> {
  const s = entry.value;
  if (s.stage === "Done" || s.stage === "Failed") {
    throw new Error(`Cannot rebuild secure round ${idOf(s)}: it is ${s.stage}`);
  }
  const server = new SecAggServer(s.config, { verify: verifyNodeSignature });
  let requests = new Map<string, ServerRequest>();
  for (;;) {
    const stage = server.stage;
    const applied = await applyStored(ctx, s, server, new Set());
    if (stage === s.stage) return { versionstamp: entry.versionstamp, server, requests, applied };
    requests = server.closeStage();
  }
}

/**
 * Feeds the server the stored messages of its open stage that it has not taken (`applied`,
 * updated). A stored message was accepted once, so a refusal now means KV and code disagree.
 */
export async function applyStored(
  ctx: Context,
  s: SecureSession,
  server: SecAggServer,
  applied: Set<string>,
): Promise<Set<string>> {
  const prefix = messagesKey(s, server.stage);
  for await (const e of ctx.kv.list({ prefix })) {
    const node = String(e.key[prefix.length]);
    if (e.key.length !== prefix.length + 1 || applied.has(node)) continue;
    const text = (await getLarge<string>(ctx.kv, e.key)).value!;
    const receipt = await server.receive(await clientMessage(ctx, text, s.config));
    // Keys stored before the server refused low-order ones: their sender is left out (no-keys),
    // as it would be now, rather than every call on the session failing on the replay.
    const stale = !receipt.ok && receipt.code === "MALFORMED" && server.stage === "AdvertiseKeys" &&
      /low order/.test(receipt.message);
    if (stale) console.warn(`secagg: ${node}'s stored keys are refused now: ${receipt.message}`);
    else if (!receipt.ok) throw new Error(`Cannot replay ${node}'s message: ${receipt.message}`);
    applied.add(node);
  }
  return applied;
}

/**
 * A posted message's text as it is stored and replayed: its stage's fields only, in a fixed order
 * (the library's canonicalMessage; a masked input's reference is its stage, id and cid). Found in
 * the secure aggregation audit: a message padded with a megabyte of an unknown field, under a
 * valid signature, was stored for good and relayed to every neighbour. Text that is no JSON object
 * is returned as it is, for clientMessage to refuse.
 */
export function canonicalText(text: string): string {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return text;
  }
  if (typeof msg !== "object" || msg === null) return text;
  const m = msg as Record<string, unknown>;
  if (m.stage !== "MaskedInputCollection") return JSON.stringify(canonicalMessage(m));
  return JSON.stringify({ stage: m.stage, id: m.id, cid: m.cid });
}

/**
 * A stored or posted message as the library takes it; a masked input is read from its upload.
 *
 * @throws {TypeError} on a message that is no JSON object with a stage and an id, or a masked
 *   input whose upload is unreadable, not a masked input or another node's
 */
export async function clientMessage(
  ctx: Context,
  text: string,
  config: Pick<SecAggConfig, "vectorLength">,
): Promise<ClientMessage> {
  const msg = JSON.parse(text) as ClientMessage | MaskedInputRef;
  if (typeof msg !== "object" || msg === null || typeof msg.id !== "string") {
    throw new TypeError("Cannot read message: expected an object with a stage and an id");
  }
  if (msg.stage !== "MaskedInputCollection") return msg;
  const ref = msg as unknown as MaskedInputRef;
  if (typeof ref.cid !== "string") throw new TypeError("Cannot read masked input: no cid");
  // Masked inputs are uploaded in the open. A private file is neither read nor told apart from
  // an absent one: read, the refusal said whether it existed and its size, for any private CID
  // an invited node named (another node's update, an owner's shard).
  const absent = `Cannot read masked input ${ref.cid}: no such public file`;
  if (await privateFile(ctx, ref.cid)) throw new TypeError(absent);
  let bytes: Uint8Array;
  try {
    // Header, id and a u32 a coordinate: nothing longer is a masked input of this session.
    const idBytes = 4 * Math.ceil(new TextEncoder().encode(ref.id).length / 4);
    const maxBytes = 16 + idBytes + 4 * config.vectorLength;
    bytes = await ctx.store.get(ref.cid, { maxBytes });
  } catch (e) {
    if (e instanceof BlockNotFoundError) throw new TypeError(absent);
    throw new TypeError(`Cannot read masked input ${ref.cid}: ${(e as Error).message}`);
  }
  const masked = decodeMaskedInput(bytes);
  if (masked.id !== ref.id) throw new TypeError("Cannot read masked input: another node's");
  return masked;
}
