/**
 * A securely aggregated round as both sides see it: the session the coordinator publishes (its
 * SecAgg+ config, the block its graph seed comes from), what a worker checks before it joins, the
 * view `GET /secagg` answers, and the signed message a worker posts to `POST /secagg`.
 *
 * Who fixes what. The roster is the round's assigned nodes; the config follows from the job spec
 * ({@link secureRoundConfig}: vector length, clip, the DP noise on the sum, degree, consistency
 * check); the context names chain, job, round and attempt; the graph seed is the keccak of the
 * context and the hash of a chain block mined after the roster was fixed ({@link secureSeed}).
 * A worker recomputes all of it from the spec it trains on and its own chain client
 * ({@link checkSession}), so a coordinator can neither pick the graph nor lower the noise.
 *
 * Nor re-roll it. The seed names chain, job and round but not the attempt, and its anchor is a
 * block that fixed the roster on chain: the round's opening or an assignment in the round
 * ({@link anchorBlocks}). A first attempt's roster is every node assigned at that block
 * ({@link rosterAt}); a retry's leaves out those that sent a masked input before, and a round has
 * at most {@link MAX_SECURE_ATTEMPTS}. A coordinator that could name any block since the round
 * opened, or any attempt number, tried each for a graph that surrounds a victim with its own nodes.
 *
 * @example
 * ```ts
 * import { generateNodeKey } from "../crypto/keys.ts";
 * import { secureContext, signSecurePost, verifySecurePost } from "./secure_session.ts";
 * const key = generateNodeKey();
 * const at = { chainId: 31337, jobId: `0x${"01".repeat(32)}` as const, round: 0, attempt: 0 };
 * const context = secureContext(at);
 * const post = signSecurePost(key, { ...at, context }, '{"stage":"AdvertiseKeys"}');
 * console.assert(verifySecurePost(post, context) && !verifySecurePost(post, context + "x"));
 * ```
 *
 * @module
 */
import { paramLayout } from "../../kernel/params.ts";
import { concatBytes, digestHex, type Hex, hexToBytes } from "../crypto/digest.ts";
import { type NodeKey, signBytes, verifyBytes } from "../crypto/keys.ts";
import type { JobSpec } from "../job/job_spec.ts";
import {
  DEFAULT_MIN_SURVIVOR_FRACTION,
  type SecAggConfig,
} from "../privacy/secure_aggregation/params.ts";
import type { ServerRequest } from "../privacy/secure_aggregation/messages.ts";
import { DEGREE_PER_LOG2_CLIENTS } from "../privacy/secure_aggregation/graph.ts";
import type { SecAggStage } from "../privacy/secure_aggregation/errors.ts";

/**
 * The `updateCid` of an envelope in a secure job: the node's update is never uploaded (anyone
 * could read it from SVDB); the coordinator only ever receives its masked input.
 */
export const SECURE_UPDATE_CID = "secure-aggregation";
/** Each coordinate's bound without a privacy policy (updates of a round are far smaller). */
export const DEFAULT_SECURE_CLIP = 1;
/** How long a protocol stage waits for nodes that have not answered (ms). */
export const DEFAULT_STAGE_MS = 60_000;

const encoder = new TextEncoder();
const SEED_LABEL = "ArthaTrain:secagg:v1:seed\n";
const POST_LABEL = "ArthaTrain:secagg:v1:post\n";

/** Where a session belongs: chain, job, round and attempt (a failed attempt is retried). */
export interface SessionAt {
  chainId: number;
  jobId: Hex;
  round: number;
  attempt: number;
}

/** The round's name: chain, job and round (the seed's context, the attempts' prefix). */
function roundName(at: Omit<SessionAt, "attempt">): string {
  return `ArthaTrain:secagg:${at.chainId}:${at.jobId.toLowerCase()}:round-${at.round}`;
}

/** The round context bound into every key, signature and ciphertext of the session. */
export function secureContext(at: SessionAt): string {
  return `${roundName(at)}:attempt-${at.attempt}`;
}

/** The most attempts a round's secure aggregation may take (attempts 0 to 3). */
export const MAX_SECURE_ATTEMPTS = 4;

/**
 * The graph seed: keccak256 of a label, chain, job and round, and the anchor block's hash. Not the
 * attempt: a retry over the same roster has the same graph, so failing an attempt re-rolls nothing.
 */
export function secureSeed(at: Omit<SessionAt, "attempt">, blockHash: Hex): Hex {
  const round = encoder.encode(`${roundName(at)}\n`);
  return digestHex(concatBytes(encoder.encode(SEED_LABEL), round, hexToBytes(blockHash)));
}

/** A change to a job's nodes on chain: `node` was assigned, replacing `replaced` if named. */
export interface RosterChange {
  block: bigint;
  node: string;
  replaced?: string;
}

/** The job's assigned nodes once block `block` is mined (lower-case, sorted). */
export function rosterAt(changes: readonly RosterChange[], block: bigint): string[] {
  const held = new Set<string>();
  for (const c of changes) {
    if (c.block > block) continue;
    if (c.replaced) held.delete(c.replaced.toLowerCase());
    held.add(c.node.toLowerCase());
  }
  return [...held].sort();
}

/**
 * The blocks a session of the round may be anchored in, oldest first: the one the round opened
 * in and every later one that assigned a node to the job. Each fixed the roster in a transaction
 * mined before its hash was known; the coordinator anchors on the latest.
 */
export function anchorBlocks(changes: readonly RosterChange[], roundOpened: bigint): bigint[] {
  const blocks = new Set([
    roundOpened,
    ...changes.map((c) => c.block).filter((b) => b > roundOpened),
  ]);
  return [...blocks].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The fewest inputs a secure round may hold by default, and at least: see {@link minSecureInputs}. */
export const DEFAULT_MIN_SECURE_INPUTS = 3;

/**
 * The fewest nodes a session's roster and a released sum may hold: the spec's `minInputs`, and
 * never fewer than 3. A sum of two tells each node the other's update, and a coordinator that
 * may choose the roster (it does, every attempt) could otherwise put one honest node beside one
 * of its own and read the honest update off the sum.
 */
export function minSecureInputs(spec: Pick<JobSpec, "secureAggregation">): number {
  return Math.max(DEFAULT_MIN_SECURE_INPUTS, spec.secureAggregation?.minInputs ?? 0);
}

/**
 * The fewest inputs any released sum of a round may hold, in every attempt: Bonawitz et al.'s 2n/3
 * of the `assigned` nodes at the round's anchor (the first attempt's roster), and never fewer than
 * {@link minSecureInputs}. A retry's roster is what is left once the nodes that sent a masked input
 * sit out; were its bound 2/3 of that, colluders who withheld their inputs to fail the first
 * attempt would make up most of the retry and read a late honest node's update off its sum.
 */
export function roundMinSurvivors(
  spec: Pick<JobSpec, "secureAggregation">,
  assigned: number,
): number {
  return Math.max(minSecureInputs(spec), Math.ceil(assigned * DEFAULT_MIN_SURVIVOR_FRACTION));
}

/**
 * The SecAgg+ config of an attempt of a round of `spec` over `clients`, of the `assigned` nodes at
 * its anchor (the first attempt's roster; a retry's holds fewer): the model's parameter count, the
 * clip (privacy's L2 clip bounds every coordinate too), the DP noise std on the sum (z x clip,
 * shared out by the library), the degree, the consistency check the owner asked for and the
 * round's {@link roundMinSurvivors}.
 *
 * @throws {RangeError} when the roster is smaller than {@link roundMinSurvivors}
 */
export function secureRoundConfig(
  spec: Pick<JobSpec, "model" | "privacy" | "secureAggregation">,
  at: { context: string; seed: Hex; clients: readonly string[]; assigned: readonly string[] },
): SecAggConfig {
  const s = spec.secureAggregation;
  if (!s) throw new TypeError("Cannot configure secure aggregation: the job does not use it");
  const p = spec.privacy;
  const n = at.clients.length;
  const min = minSecureInputs(spec);
  if (n < min) {
    throw new RangeError(
      `Cannot configure secure round: a roster of ${n} is below the job's minimum of ${min} ` +
        "inputs (a sum of fewer would reveal updates to the nodes in it)",
    );
  }
  const assigned = at.assigned.length;
  const minSurvivors = roundMinSurvivors(spec, Math.max(assigned, n));
  if (n < minSurvivors) {
    throw new RangeError(
      `Cannot configure secure round: a roster of ${n} is below the round's ${minSurvivors} ` +
        `survivors (2/3 of the ${assigned} nodes assigned; a sum of fewer could be mostly ` +
        "nodes that withheld their inputs before)",
    );
  }
  const graphSize = Math.max(assigned, n);
  return {
    context: at.context,
    seed: at.seed,
    // In one canonical order: the neighbour graph shuffles the roster by the seed, so a
    // coordinator free to order it could re-roll the graph n! times for one seed until its own
    // nodes surround a victim (then they hold shares of both its secrets); checkSession refuses
    // any other order.
    clients: [...at.clients].sort(),
    // A retry's graph is the anchor roster's, less the nodes left out: found in the secure
    // aggregation audit, a graph drawn over each retry's roster let a coordinator try subsets
    // (claiming nodes dropped) until its own nodes were most of a victim's neighbours.
    ...(graphOf(at.clients, at.assigned) ?? {}),
    vectorLength: paramLayout(spec.model).size,
    clip: p ? p.clip : s.clip ?? DEFAULT_SECURE_CLIP,
    ...(s.degree !== undefined ? { degree: Math.max(s.degree, minSecureDegree(graphSize)) } : {}),
    noiseStd: p ? p.noiseMultiplier * p.clip : 0,
    // On unless the owner turns it off: without it a coordinator can tell some neighbours a live
    // node dropped and others that it survived, and unmask that node's input.
    consistencyCheck: s.consistencyCheck ?? true,
    minSurvivors,
  };
}

/**
 * `{graphClients}` when the attempt's clients are part of the anchor roster, else undefined: the
 * whole roster draws its graph itself, and a roster naming others is refused (checkSession).
 */
function graphOf(
  clients: readonly string[],
  assigned: readonly string[],
): { graphClients: string[] } | undefined {
  const all = new Set(assigned.map((a) => a.toLowerCase()));
  const part = clients.every((c) => all.has(c.toLowerCase()));
  return part && clients.length < all.size ? { graphClients: [...all].sort() } : undefined;
}

/**
 * Fewest neighbours a job's spec may give each node of an `n`-node round: half the default's
 * (3 log2 n, rounded up to even), or everyone under that. Found in the secure aggregation audit:
 * `degree: 2` was accepted for any n, so shares were rebuilt from 2 of them, and two colluding
 * nodes beside a victim unmasked its input. A spec asking fewer gets this many.
 *
 * @example
 * ```ts
 * import { minSecureDegree } from "./secure_session.ts";
 * console.assert(minSecureDegree(8) === 7 && minSecureDegree(1000) === 30);
 * ```
 */
export function minSecureDegree(n: number): number {
  return Math.min(n - 1, 2 * Math.ceil((DEGREE_PER_LOG2_CLIENTS / 2) * Math.log2(n) / 2));
}

/**
 * The stage name of a node's accusation (`{stage, id, accused}`, posted signed like a stage's
 * message while MaskedInputCollection is open): the share its neighbour `accused` sent it did not
 * open, so it sends no masked input in the attempt. The coordinator leaves both out of the round's
 * next attempt (lib/coordinator/secure_round.ts): an accuser that lies costs itself its place too.
 */
export const ACCUSE_STAGE = "Accuse";

/** A node's accusation of a neighbour ({@link ACCUSE_STAGE}). */
export interface Accusation {
  stage: typeof ACCUSE_STAGE;
  id: string;
  accused: string;
}

/** What the coordinator publishes for a session. */
export interface SecureSessionInfo extends Omit<SessionAt, "chainId"> {
  /** Block whose hash seeds the graph (decimal). */
  anchorBlock: string;
  blockHash: Hex;
  config: SecAggConfig;
}

/** A stage of the session, or how it ended. */
export type SessionStage = SecAggStage | "Done" | "Failed";

/** `GET /secagg?jobId=&round=&node=`: the session and, for `node`, what it should do now. */
export interface SecureRoundView {
  status: "open" | "done" | "failed";
  session: SecureSessionInfo;
  stage: SessionStage;
  /** The node takes part in the open stage (AdvertiseKeys: it is on the roster). */
  invited: boolean;
  /** The node's message of the open stage is in. */
  answered: boolean;
  /** The node's request of the open stage (none at AdvertiseKeys). */
  request?: ServerRequest;
  /** When done: whether the node's input is in the sum, and how many are. */
  included?: boolean;
  includedCount?: number;
  /** Without `node`: the roster members the open stage still waits for. */
  waitingFor?: string[];
  /** When failed: why. */
  failure?: string;
}

/** A masked input on the wire: the CID of its upload (lib/privacy `encodeMaskedInput`). */
export interface MaskedInputRef {
  stage: "MaskedInputCollection";
  id: string;
  cid: string;
}

/** `POST /secagg`: one protocol message (JSON text), signed by the node key. */
export interface SecurePost {
  jobId: Hex;
  round: number;
  attempt: number;
  nodePubkey: Hex;
  /** A library ClientMessage as JSON, a masked input as a {@link MaskedInputRef}. */
  message: string;
  signature: Hex;
}

function postDigest(context: string, message: string): Uint8Array {
  return hexToBytes(
    digestHex(concatBytes(encoder.encode(POST_LABEL), encoder.encode(`${context}\n${message}`))),
  );
}

/** Signs `message` for the session with the node key (the transport's authentication). */
export function signSecurePost(
  key: NodeKey,
  session: Omit<SessionAt, "chainId"> & { context: string },
  message: string,
): SecurePost {
  return {
    jobId: session.jobId,
    round: session.round,
    attempt: session.attempt,
    nodePubkey: key.publicKeyHex.toLowerCase() as Hex,
    message,
    signature: signBytes(key, postDigest(session.context, message)),
  };
}

/** Whether `post` is signed by its node for the session of `context`. */
export function verifySecurePost(post: SecurePost, context: string): boolean {
  return verifyNodeSignature(post.nodePubkey, postDigest(context, post.message), post.signature);
}

/** Ed25519 check by a roster id (a node key); false for anything malformed. */
export function verifyNodeSignature(id: string, message: Uint8Array, signature: Hex): boolean {
  try {
    return verifyBytes(id as Hex, message, signature);
  } catch {
    return false; // not 32-byte / 64-byte hex
  }
}

/** What a worker's own chain client says about a session's round. */
export interface SessionChain {
  chainId: number;
  /** The hash of the session's anchor block. */
  blockHash: Hex;
  /** The block the round opened in. */
  roundOpened: bigint;
  /** The job's assignments, oldest first (lib/chain/get_job_assignments.ts). */
  assignments: readonly RosterChange[];
}

/**
 * Refuses a published session that is not the one the spec and the chain make: another context,
 * an attempt past {@link MAX_SECURE_ATTEMPTS}, an anchor that is not one of the round's
 * {@link anchorBlocks}, a roster that is not the nodes assigned at the anchor (a retry's may
 * leave some out), a seed not derived from the anchor block's hash as the worker's own chain
 * reports it, or a config that differs from {@link secureRoundConfig} (less noise, another clip
 * or degree, no consistency check).
 *
 * @throws {TypeError} naming what differs
 */
export function checkSession(
  spec: Pick<JobSpec, "model" | "privacy" | "secureAggregation">,
  session: SecureSessionInfo,
  chain: SessionChain,
): void {
  const context = secureContext({ ...session, chainId: chain.chainId });
  const fail = (what: string) => new TypeError(`Cannot join secure round: ${what}`);
  if (session.config.context !== context) throw fail(`context is not ${context}`);
  if (!Number.isSafeInteger(session.attempt) || session.attempt >= MAX_SECURE_ATTEMPTS) {
    throw fail(`attempt ${session.attempt} is past the last (${MAX_SECURE_ATTEMPTS - 1})`);
  }
  const assigned = checkAnchor(session, chain, fail);
  const at = { chainId: chain.chainId, jobId: session.jobId, round: session.round };
  if (session.config.seed !== secureSeed(at, chain.blockHash)) {
    throw fail(`seed is not derived from block ${session.anchorBlock}`);
  }
  const clients = session.config.clients;
  let want: SecAggConfig;
  try {
    want = secureRoundConfig(spec, { context, seed: session.config.seed, clients, assigned });
  } catch (e) {
    throw fail((e as Error).message.replace(/^Cannot configure secure round: /, ""));
  }
  for (const k of Object.keys({ ...want, ...session.config }) as (keyof SecAggConfig)[]) {
    if (JSON.stringify(session.config[k]) !== JSON.stringify(want[k])) {
      throw fail(`config.${k} differs from the job spec's`);
    }
  }
}

/**
 * The anchor must be a block that fixed the roster in the round, and the roster the nodes
 * assigned there: all of them in a first attempt, a subset in a retry (the nodes that sent a
 * masked input before sit it out). Any block since the round opened, or any subset of the nodes,
 * was another graph for the coordinator to choose from. Returns the nodes the anchor assigned.
 */
function checkAnchor(
  session: SecureSessionInfo,
  chain: SessionChain,
  fail: (what: string) => TypeError,
): string[] {
  let anchor: bigint;
  try {
    anchor = BigInt(session.anchorBlock);
  } catch {
    throw fail(`anchor block ${JSON.stringify(session.anchorBlock)} is not a block number`);
  }
  const allowed = anchorBlocks(chain.assignments, chain.roundOpened);
  if (!allowed.includes(anchor)) {
    throw fail(
      `anchor block ${anchor} did not fix round ${session.round}'s roster (blocks that did: ` +
        `${allowed.join(", ")})`,
    );
  }
  const assigned = rosterAt(chain.assignments, anchor);
  const roster = session.config.clients.map((c) => c.toLowerCase());
  if (new Set(roster).size !== roster.length) throw fail("the roster names a node twice");
  const stranger = roster.find((c) => !assigned.includes(c));
  if (stranger) {
    throw fail(`roster member ${stranger} was not assigned to the job at block ${anchor}`);
  }
  if (session.attempt === 0 && roster.length !== assigned.length) {
    throw fail(
      `a first attempt's roster must be every node assigned at block ${anchor}: ` +
        `${roster.length} of ${assigned.length}`,
    );
  }
  return assigned;
}
