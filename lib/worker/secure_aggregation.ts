/**
 * The worker's side of a securely aggregated round: after it trained, committed its digests and
 * posted its envelope, the node runs SecAgg+'s client through `GET`/`POST /secagg` as a poll
 * loop, answering each request with the library's `respond`. Before joining it checks the
 * session against its own spec and chain (lib/round/secure_session.ts `checkSession`): the graph
 * seed must come from the anchor block's hash, the noise and clip from the spec.
 *
 * What it sends is never its update: keys, sealed shares, its masked fixed-point input (uploaded
 * to SVDB, which only ever holds that), and shares of its neighbours' secrets. With a privacy
 * policy the delta is first L2-clipped to `privacy.clip` and the library adds the node's share of
 * the noise. The per-round secrets live in the SecAggClient only, in memory: a worker that
 * crashes mid-round drops out of it, which the protocol survives.
 *
 * A node sends its masked input in one session of a round only, and says so in its crash state
 * before it sends it ({@link WorkerState.recordMaskedInput}). Any other session of the same round
 * (a later attempt after one the coordinator declared failed, or a new session under a number
 * already used) gets no input from it: otherwise a coordinator that unmasked a session over
 * everyone, called it failed and ran another without a victim would learn the victim's update as
 * the difference of the two sums. A session is its anchor block and whole config (roster, seed,
 * thresholds), not its attempt number. The node drops out of that session as a node that went
 * away does; the coordinator leaves it off the next roster.
 *
 * Nor does it join a roster it cannot check: the anchor must be a block that fixed the roster
 * in the round, and the roster the nodes AIJobManager had assigned to the job there (all of them
 * in a first attempt), read from the node's own chain client's events; a member may still be
 * committing when the session opens. Otherwise a coordinator could surround a victim with keys
 * it made up and played with zero inputs, and the "sum" would be the victim's update; a node it
 * must register, stake and assign on chain for that is a colluding node, which SecAgg+ bounds by
 * its threshold.
 *
 * @example
 * ```ts
 * import { secureInput } from "./secure_aggregation.ts";
 * const spec = { privacy: { clip: 1, noiseMultiplier: 1, delta: 1e-5, maxEpsilon: 10 } };
 * console.assert(secureInput(spec, new Float32Array([3, 4]))[0] === 0.6000000238418579);
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { getBlockHash } from "../chain/get_block_hash.ts";
import { getRoundOpenedBlock } from "../chain/get_round_opened_block.ts";
import { getJobAssignments } from "../chain/get_job_assignments.ts";
import { digestHex } from "../crypto/digest.ts";
import { type NodeKey, signBytes } from "../crypto/keys.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { clipL2 } from "../privacy/dp.ts";
import { SecAggClient } from "../privacy/secure_aggregation/client.ts";
import { InvalidShareError } from "../privacy/secure_aggregation/errors.ts";
import { type ClientMessage, encodeMaskedInput } from "../privacy/secure_aggregation/messages.ts";
import {
  ACCUSE_STAGE,
  checkSession,
  type MaskedInputRef,
  MAX_SECURE_ATTEMPTS,
  type SecureRoundView,
  type SecureSessionInfo,
  signSecurePost,
  verifyNodeSignature,
} from "../round/secure_session.ts";
import { type CoordinatorClient, CoordinatorError, ROUND_NOT_OPEN } from "./client.ts";
import type { Gateway } from "./gateway.ts";
import { WorkerState } from "./state.ts";

/** What a node needs to take part in its round's secure aggregation. */
export interface SecureAggregationParameters {
  coordinator: CoordinatorClient;
  /** Uploads the masked input. */
  gateway: Gateway;
  /** Reads the anchor block the graph seed comes from, and who may be on the roster. */
  client: ArthaClient;
  /** The deployment: AIJobManager's assignments check the roster. */
  addresses: ArthaAddresses;
  chainId: number;
  key: NodeKey;
  spec: JobSpec;
  jobId: Hex;
  round: number;
  /** The node's clean delta, whose digests it committed. */
  delta: Float32Array;
  /** First and longest wait between polls in ms (default 50 and 2,000: doubled while idle). */
  pollMs?: { min: number; max: number };
  /**
   * Called before each wait between polls: the worker heartbeats and answers challenges there
   * (each rate-limited), so a session a coordinator keeps open for hours costs the node nothing.
   */
  onWait?: () => Promise<void>;
  /**
   * The worker's crash state, where the attempt a masked input went out in is kept (default: in
   * memory for this run, which covers every attempt the run sees but not a restart).
   */
  state?: WorkerState;
}

/** How the node's part ended: its input is in the sum, it is out, or the round closed. */
export type SecureOutcome = "included" | "excluded" | "closed";

const DEFAULT_POLL = { min: 50, max: 2_000 };

/** The parameters of a run, with the crash state it keeps its masked-input record in. */
type Run = SecureAggregationParameters & { state: WorkerState };

/** One session's client and the messages sent in it (a retried post re-sends the same). */
interface Party {
  attempt: number;
  /** {@link sessionId} of the session joined. */
  session: Hex;
  client: SecAggClient;
  context: string;
  sent: Map<string, string>;
  /** A neighbour whose share to this node did not open: the node waits for the next attempt. */
  accused?: string;
}

/** The vector the node feeds the protocol: its delta, L2-clipped under a privacy policy. */
export function secureInput(spec: Pick<JobSpec, "privacy">, delta: Float32Array): Float32Array {
  return spec.privacy ? clipL2(delta, spec.privacy.clip).delta : delta;
}

/**
 * Runs the node's side until the session finishes, the node is out of it, or the round closes.
 *
 * @throws {TypeError} when the published session is not the spec's and the chain's
 * @throws {CoordinatorError} on a refusal the node cannot act on
 */
export async function runSecureAggregation(p: SecureAggregationParameters): Promise<SecureOutcome> {
  const node = p.key.publicKeyHex.toLowerCase() as Hex;
  const update = secureInput(p.spec, p.delta);
  const state = p.state ?? new WorkerState();
  const poll = p.pollMs ?? DEFAULT_POLL;
  let party: Party | undefined;
  let wait = poll.min;
  for (;;) {
    const view = await viewOf(p, node);
    if (view === "closed") return "closed";
    if (view?.status === "done") return view.included ? "included" : "excluded";
    // The round's last attempt failed: no session follows it (found reviewing the accusations:
    // an accuser waited for one until the round closed).
    if (view?.status === "failed" && view.session.attempt >= MAX_SECURE_ATTEMPTS - 1) {
      return "excluded";
    }
    if (view?.status === "open") {
      if (party?.session !== sessionId(view.session)) party = await join(p, node, view);
      const message = party && await nextMessage({ ...p, state }, party, view, update);
      if (!party || message === "out") return "excluded";
      if (message !== undefined) {
        const posted = await post(p, party, message);
        if (posted === "out") return "excluded";
        wait = poll.min;
      }
    }
    // At every turn, a post or not: a coordinator whose view never counts the node's message as
    // answered would otherwise keep it re-posting with no heartbeat or challenge answer (both
    // slashed when missed) for as long as it liked.
    await p.onWait?.();
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(poll.max, wait * 2);
  }
}

/** The node's view of the round; "closed" once the round moved on; undefined before a session. */
async function viewOf(
  p: SecureAggregationParameters,
  node: Hex,
): Promise<SecureRoundView | "closed" | undefined> {
  try {
    return await p.coordinator.getJson<SecureRoundView>(
      `/secagg?jobId=${p.jobId}&round=${p.round}&node=${node}`,
    );
  } catch (e) {
    if (!(e instanceof CoordinatorError)) throw e;
    if (e.code === ROUND_NOT_OPEN || e.code === "JOB_NOT_RUNNING") return "closed";
    if (e.code === "NO_SESSION") return undefined;
    throw e;
  }
}

/** What identifies a session: its anchor block and whole config (roster, seed, thresholds). */
export function sessionId(session: Pick<SecureSessionInfo, "anchorBlock" | "config">): Hex {
  const { anchorBlock, config } = session;
  return digestHex(new TextEncoder().encode(JSON.stringify({ anchorBlock, config })));
}

/** A client for the view's session, once it and its roster check out; undefined off it. */
async function join(
  p: SecureAggregationParameters,
  node: Hex,
  view: SecureRoundView,
): Promise<Party | undefined> {
  const { session } = view;
  if (!session.config.clients.includes(node)) return undefined;
  const at = { addresses: p.addresses, jobId: p.jobId, round: session.round };
  const [block, roundOpened, assignments] = await Promise.all([
    getBlockHash(p.client, { blockNumber: anchorOf(session) }),
    getRoundOpenedBlock(p.client, at),
    getJobAssignments(p.client, at),
  ]);
  if (roundOpened === undefined) {
    throw new TypeError(`Cannot join secure round: round ${session.round} has not opened on chain`);
  }
  const chain = { chainId: p.chainId, blockHash: block.hash, roundOpened, assignments };
  checkSession(p.spec, session, chain);
  const client = await SecAggClient.create(session.config, node, {
    sign: (m) => signBytes(p.key, m),
    verify: verifyNodeSignature,
  });
  const { attempt, config: { context } } = session;
  return { attempt, session: sessionId(session), client, context, sent: new Map() };
}

/** The session's anchor block number. @throws {TypeError} when it is not one */
function anchorOf(session: SecureSessionInfo): bigint {
  if (!/^\d{1,20}$/.test(session.anchorBlock)) {
    throw new TypeError(
      `Cannot join secure round: anchor block ${JSON.stringify(session.anchorBlock)} is not a ` +
        "block number",
    );
  }
  return BigInt(session.anchorBlock);
}

/**
 * The message the open stage wants from the node (JSON), undefined when there is none to send,
 * "out" when the node is not in the stage or its client refuses (too few neighbours, a request
 * an honest server never sends): the node drops out, which the protocol survives.
 */
async function nextMessage(
  p: Run,
  party: Party,
  view: SecureRoundView,
  update: Float32Array,
): Promise<string | "out" | undefined> {
  if (view.answered || party.accused) return undefined;
  if (!view.invited) return "out";
  const again = party.sent.get(view.stage);
  if (again) return again; // sent before, the answer was lost
  const masking = view.stage === "MaskedInputCollection";
  if (masking && await maskedElsewhere(p, party)) return "out";
  let msg: ClientMessage;
  try {
    msg = view.stage === "AdvertiseKeys"
      ? await party.client.advertiseKeys()
      : await party.client.respond(view.request!, update);
  } catch (e) {
    if (e instanceof InvalidShareError && masking) return accuse(party, e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("SECAGG_")) return "out";
    throw e;
  }
  if (masking) await recordMasked(p, party);
  const text = msg.stage === "MaskedInputCollection"
    ? JSON.stringify(await uploadMasked(p, msg))
    : JSON.stringify(msg);
  party.sent.set(view.stage, text);
  return text;
}

/**
 * The node's accusation of the neighbour whose share did not open, for the coordinator to leave
 * that neighbour (and this node) out of the round's next attempt; the node sends no masked input
 * in this one and waits for that. Found in the secure aggregation audit: the node dropped out of
 * the round for good, so one node sending bad shares to its neighbours stopped every attempt of
 * every round, and nothing named it.
 */
function accuse(party: Party, e: InvalidShareError): string {
  party.accused = e.client;
  return JSON.stringify({ stage: ACCUSE_STAGE, id: party.client.id, accused: e.client });
}

/**
 * Whether the node sent its masked input in another session of the round: then it sends none in
 * this one, whatever its attempt number.
 */
async function maskedElsewhere(p: Run, party: Party): Promise<boolean> {
  const sent = await p.state.maskedInputSent(p.jobId);
  return sent !== undefined && sent.round === p.round && sent.session !== party.session;
}

/**
 * Records that the node's masked input for this session is computed and about to leave: after
 * the client opened every share and masked (found in the node routes audit: recorded before, a
 * neighbour's unopenable share made the node drop out marked as having sent, so it refused every
 * later attempt of the round, and one such neighbour froze the job), before the upload, so a
 * crash between the record and the send errs on the side of never sending twice.
 */
async function recordMasked(p: Run, party: Party): Promise<void> {
  const sent = await p.state.maskedInputSent(p.jobId);
  if (sent?.round === p.round && sent.session === party.session) return;
  const { attempt, session } = party;
  await p.state.recordMaskedInput(p.jobId, { round: p.round, attempt, session });
}

/** The masked input goes to SVDB (it is as large as the model); the message names its CID. */
async function uploadMasked(
  p: SecureAggregationParameters,
  msg: Extract<ClientMessage, { stage: "MaskedInputCollection" }>,
): Promise<MaskedInputRef> {
  const cid = await p.gateway.put(encodeMaskedInput(msg));
  return { stage: msg.stage, id: msg.id, cid };
}

/** Posts a signed message; a stage that closed meanwhile is read again from the view. */
async function post(
  p: SecureAggregationParameters,
  party: Party,
  message: string,
): Promise<"ok" | "out"> {
  const { jobId, round } = p;
  const body = signSecurePost(p.key, { jobId, round, ...party }, message);
  try {
    await p.coordinator.postJson("/secagg", body);
    return "ok";
  } catch (e) {
    if (!(e instanceof CoordinatorError)) throw e;
    if (e.code === "NOT_INVITED") return "out";
    if (e.code === "WRONG_STAGE" || e.code === ROUND_NOT_OPEN) return "ok"; // the view decides
    throw e;
  }
}
