/**
 * Delivering a trained round: upload the update (none in a secure job), commit its digests on
 * chain in one transaction, keep what the challenge and dispute responders need to answer on it,
 * and post the signed envelope. Each step is safe to repeat after a crash: the kernel is
 * deterministic, so a retrained round commits the same digests.
 *
 * @example
 * ```ts
 * import { postUpdate } from "./deliver.ts";
 * import { CoordinatorClient } from "./client.ts";
 * const closed = () =>
 *   Promise.resolve(Response.json({ error: { code: "ROUND_NOT_OPEN", message: "" } }, {
 *     status: 409,
 *   }));
 * console.assert(!(await postUpdate(new CoordinatorClient(closed), "{}")));
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { commitRound } from "../chain/commit_round.ts";
import { isResultCommitted } from "../chain/is_result_committed.ts";
import { ChainCallError } from "../chain/send_contract.ts";
import { f32Bytes, type LocalResult } from "../round/local_training.ts";
import type { ChallengeResponder } from "../verify/responder.ts";
import type { DisputeResponder } from "../verify/dispute_responder.ts";
import {
  type CoordinatorClient,
  CoordinatorError,
  ROUND_NOT_OPEN,
  UPDATE_COUNTED,
} from "./client.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { SECURE_UPDATE_CID } from "../round/secure_session.ts";
import { MAGIC } from "../compress/codec.ts";
import { bytesToHex, hexToBytes } from "../crypto/digest.ts";
import { merkleRoot } from "../crypto/merkle.ts";
import { decodeCheckpoint } from "../model/checkpoint.ts";
import type { SavedCommit, WorkerState } from "./state.ts";
import type { Gateway } from "./gateway.ts";
import { encodeUpdate } from "./train.ts";

/** Where and as whom a round is committed. */
export interface CommitParameters {
  addresses: ArthaAddresses;
  nodePubkey: Hex;
  jobId: Hex;
  round: number;
  result: LocalResult;
}

/**
 * Uploads the round's encoded update; returns its CID and size. A secure job uploads nothing
 * (anyone could read it from SVDB): its envelope names SECURE_UPDATE_CID, and the update reaches
 * the coordinator only masked, inside the round's sum (./secure_aggregation.ts).
 */
export async function uploadUpdate(
  gateway: Gateway,
  spec: JobSpec,
  round: number,
  result: LocalResult,
): Promise<{ updateCid: string; bytes: number }> {
  if (spec.secureAggregation) return { updateCid: SECURE_UPDATE_CID, bytes: 0 };
  const bytes = encodeUpdate(spec, round, result);
  // Private from the upload: its job's owner and nodes read it once the coordinator takes it.
  return { updateCid: (await gateway.putPrivate(bytes)).cid, bytes: bytes.length };
}

/**
 * Commits the round's digests on chain: "committed" (now, or the same digests before a crash),
 * "closed" when the round closed while the node trained (a closed round takes no more commits,
 * and its update would be refused too), "different" when the node already committed other
 * digests for this round. That last is a coordinator that sent the round again with other
 * inputs: keeping or signing this result would leave the node unable to answer a challenge on
 * what it did commit, and slashed for it.
 */
export async function commitTrained(
  client: ArthaClient,
  params: CommitParameters,
): Promise<"committed" | "closed" | "different"> {
  const { result } = params;
  const digests = {
    jobId: params.jobId,
    round: params.round,
    nodePubkey: params.nodePubkey,
    lossDigest: result.lossDigest,
    gradientDigest: result.gradientDigest,
    weightsDigest: result.weightsDigest,
  };
  try {
    const commit = { ...digests, proofsRoot: result.proofsRoot };
    await commitRound(client, { addresses: params.addresses, commit });
  } catch (e) {
    if (e instanceof ChainCallError && e.errorName === "PoC__RoundNotOpen") return "closed";
    if (!(e instanceof ChainCallError && e.errorName === "PoC__AlreadyCommitted")) throw e;
    // Committed before a crash: the kernel is deterministic, so the digests are the same.
    const same = await isResultCommitted(client, { addresses: params.addresses, ...digests });
    return same ? "committed" : "different";
  }
  return "committed";
}

/**
 * Keeps a committed round so the node can answer challenges and disputes on it: its update bytes
 * in memory, or, with `loadUpdate` (a worker that keeps them in its state), only a loader of them.
 */
export function keepCommitted(
  responders: { challenges: ChallengeResponder; disputes: DisputeResponder },
  jobId: Hex,
  round: number,
  result: LocalResult,
  loadUpdate?: () => Promise<Uint8Array | undefined>,
): void {
  const committed = {
    jobId: jobId.toLowerCase() as Hex,
    round,
    lossDigest: result.lossDigest,
    gradientDigest: result.gradientDigest,
    weightsDigest: result.weightsDigest,
  };
  responders.challenges.remember({
    ...committed,
    ...(loadUpdate ? { loadUpdate } : { updateBytes: committedUpdateBytes(result) }),
    stepRecords: result.stepRecords,
  });
  if (result.stepDigests) {
    responders.disputes.remember({ ...committed, stepDigests: result.stepDigests });
  }
}

/** The bytes a result's gradientDigest is the Merkle root of: its codec payload, else its delta. */
export function committedUpdateBytes(result: LocalResult): Uint8Array {
  return result.payload ?? f32Bytes(result.delta);
}

/** What the worker's state keeps of a commit, to answer for it after a restart. */
export function savedCommitOf(
  jobId: Hex,
  round: number,
  result: LocalResult,
  updateCid: string,
): SavedCommit {
  return {
    jobId: jobId.toLowerCase() as Hex,
    round,
    lossDigest: result.lossDigest,
    gradientDigest: result.gradientDigest,
    weightsDigest: result.weightsDigest,
    updateCid,
    stepRecords: result.stepRecords ? bytesToHex(result.stepRecords) : undefined,
    stepDigests: result.stepDigests,
  };
}

/**
 * Gives the responders a commit kept in the state: its step records and digests as saved, and a
 * loader of its update bytes (`loadUpdate`, see {@link updateLoader}); nothing of the update is
 * read here. Found in the worker audit: a restart read every kept round's bytes back into memory
 * (17 a job), out of memory again at every start for a model the budget allowed.
 */
export function restoreCommit(
  responders: { challenges: ChallengeResponder; disputes: DisputeResponder },
  saved: SavedCommit,
  loadUpdate: () => Promise<Uint8Array | undefined>,
): void {
  const { updateCid: _, stepRecords, stepDigests, delivered: __, ...committed } = saved;
  responders.challenges.remember({
    ...committed,
    loadUpdate,
    stepRecords: stepRecords ? hexToBytes(stepRecords) : undefined,
  });
  if (stepDigests) responders.disputes.remember({ ...committed, stepDigests });
}

/**
 * Reads a kept commit's update bytes when a challenge needs them: those the state kept, or, for a
 * commit saved without them by an older worker, read back from SVDB; either only when they hash
 * to the committed gradientDigest (undefined otherwise: chunk challenges of the round go
 * unanswered).
 */
export function updateLoader(
  state: WorkerState,
  gateway: Gateway,
  saved: Pick<SavedCommit, "jobId" | "round" | "gradientDigest" | "updateCid">,
): () => Promise<Uint8Array | undefined> {
  return async () => {
    const kept = await state.committedUpdate(saved.jobId, saved.round);
    if (kept && merkleRoot(kept) === saved.gradientDigest) return kept;
    if (saved.updateCid === SECURE_UPDATE_CID) return undefined;
    let bytes: Uint8Array;
    try {
      // Signed: an update is private to its job and its node (svdb_private.ts).
      bytes = committedBytes(await gateway.get(saved.updateCid, undefined, true));
    } catch {
      return undefined; // gone from SVDB or unreadable
    }
    return merkleRoot(bytes) === saved.gradientDigest ? bytes : undefined;
  };
}

/** What an uploaded update's gradientDigest covers: a codec payload as sent, else the f32 delta. */
export function committedBytes(file: Uint8Array): Uint8Array {
  const payload = file.length >= MAGIC.length && MAGIC.every((b, i) => file[i] === b);
  return payload ? file : f32Bytes(decodeCheckpoint(file).weights);
}

/**
 * Posts a signed update envelope (JSON). Returns false when the round closed without it (the
 * node was too slow): the work is committed on chain and counts for rewards; the update itself
 * is no longer useful. A re-post of a stale update that already counted is delivered.
 */
export async function postUpdate(
  coordinator: CoordinatorClient,
  envelopeJson: string,
): Promise<boolean> {
  try {
    await coordinator.postJson("/aggregate/update", envelopeJson);
    return true;
  } catch (e) {
    if (!(e instanceof CoordinatorError)) throw e;
    if (e.code === UPDATE_COUNTED) return true;
    if (e.code === ROUND_NOT_OPEN) return false;
    throw e;
  }
}
