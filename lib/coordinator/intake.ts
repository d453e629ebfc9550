/**
 * Update intake: one worker's signed round update, checked step by step and stored once.
 * Accepted only if the node holds a task of the open round (or, in asynchronous jobs, of a
 * recent one), the envelope's and every per-step proof's signatures verify, the proofs hash to
 * proofsRoot, the samples are what the task produces, the update in SVDB hashes to the committed
 * gradientDigest (a partition payload must be the task's part), and the same digests are
 * committed on chain. A retry of the same update is answered as stored (200), a different one
 * is refused, and an asynchronous job's stale update that already counted is refused again. In
 * a secure job (secureAggregation) the envelope names no readable update.
 */
import type { Hex } from "viem";
import { isResultCommitted } from "../chain/is_result_committed.ts";
import { ROUND_NOT_OPEN, UPDATE_COUNTED } from "../worker/task.ts";
import { proofsRoot, verifyTrainProof } from "../round/train_proof.ts";
import { arthaDomain } from "../crypto/domain.ts";
import {
  decodeUpdateBytes,
  type SignedUpdateEnvelope,
  verifyEnvelopeSignature,
} from "../round/update_envelope.ts";
import { paramLayout } from "../../kernel/params.ts";
import { CODEC_ID } from "../compress/codec.ts";
import { checkUpdate } from "../strategy/streaming_fed_avg.ts";
import { checkClusterMember } from "../strategy/hierarchical.ts";
import { l2Norm } from "../privacy/dp.ts";
import { DEFAULT_PARTS, partitionSeed, readPartitionHeader } from "../compress/partition.ts";
import type { JobSpec } from "../job/job_spec.ts";
import type { Context } from "./context.ts";
import { loadSpec, slotOf } from "./job.ts";
import { closeWhenComplete, countUpdate } from "./close_trigger.ts";
import { closingKey } from "./closing.ts";
import { singleFlight } from "./single_flight.ts";
import { SECURE_UPDATE_CID } from "../round/secure_session.ts";
import { pinUpload } from "./svdb_retention.ts";
import { foreignPrivate, keepUpdatePrivate } from "./svdb_private.ts";
import { jobUploadBytes } from "./svdb_access.ts";
import { reject, type Rejection } from "./result.ts";
import {
  getJob,
  getJobNode,
  holdsTask,
  type JobHead,
  type JobNodeRecord,
  nodeKey,
  type NodeRecord,
  updateKey,
  type UpdateRecord,
} from "./state.ts";

/** An accepted update: 201 when stored now, 200 when it was already in (a retry). */
export type IntakeResult = { ok: true; status: 200 | 201; record: UpdateRecord } | Rejection;

const refuse = (status: number, code: string, why: string) =>
  reject(status, code, `Cannot accept update: ${why}`);

/** Validates and stores one update. */
export async function receiveUpdate(
  ctx: Context,
  env: SignedUpdateEnvelope,
): Promise<IntakeResult> {
  const job = (await getJob(ctx.kv, env.jobId, { metrics: false })).value;
  if (!job) return refuse(404, "UNKNOWN_JOB", "unknown job");
  if (job.status !== "running") return refuse(409, "JOB_NOT_RUNNING", `job is ${job.status}`);
  const spec = await loadSpec(ctx.store, job.specCid);
  const place = await getJobNode(ctx.kv, job.jobId, env.nodePubkey);
  const early = checkRound(job, spec, env) ?? checkAssigned(place);
  if (early) return early;
  // Signatures and sizes first: a re-post is answered as a retry only if it is itself valid.
  const bad = checkSignatures(ctx, spec, env) ?? checkTaskSize(spec, env);
  if (bad) return bad;
  const existing = await asRetry(ctx, job, env) ?? await countedBefore(ctx, job, env);
  if (existing) return existing;
  // Before any read; storeUpdate checks it again before its pin and in its write, as the close
  // may start meanwhile.
  if ((await ctx.kv.get(closingKey(env.jobId, job.round))).versionstamp) {
    return closingRefusal(job.round, spec);
  }
  // The chain read before the update's: reading, decoding and checking an update costs up to
  // the job's largest update (~1 GB at 124M parameters), which a node could otherwise have the
  // coordinator spend on every post of digests it never committed (found in the node routes
  // audit); now each costs it a commit (once per round) first.
  if (!await isCommitted(ctx, env)) {
    const why = "these digests are not committed on chain (commitRound first)";
    return refuse(409, "NOT_COMMITTED", why);
  }
  return await readOnce(ctx, job, spec, place, env);
}

/**
 * One read of a node's update at a time, whatever number of copies it posts at once: found in
 * the round pipeline audit, each concurrent copy of one committed envelope read and decoded the
 * whole update (up to ~1 GB each), so one node could run the coordinator out of memory. Keyed by
 * the node alone (an Ed25519 key signs one envelope many ways, and a field can vary): a copy
 * that joins another's read is then answered as a retry of what that read stored.
 */
async function readOnce(
  ctx: Context,
  job: JobHead,
  spec: JobSpec,
  place: JobNodeRecord | null,
  env: SignedUpdateEnvelope,
): Promise<IntakeResult> {
  const flight = `intake:${env.jobId}:${job.round}:${env.nodePubkey}`;
  for (;;) {
    const read = await singleFlight(ctx, flight, async () => ({
      signature: env.signature,
      result: await readAndStore(ctx, job, spec, place, env),
    }));
    // The same envelope (its own read, or an identical copy's) shares that read's answer.
    if (read.signature === env.signature) return read.result;
    const stored = await asRetry(ctx, job, env);
    if (stored) return stored;
    // The read it joined stored nothing (refused, or its upload was gone): it takes its own turn.
  }
}

/** Reads, checks and stores `env`'s update (a secure job's: its digests only). */
async function readAndStore(
  ctx: Context,
  job: JobHead,
  spec: JobSpec,
  place: JobNodeRecord | null,
  env: SignedUpdateEnvelope,
): Promise<IntakeResult> {
  // A copy whose turn came after a read it joined, or after another's read ended: that read may
  // have stored its update (a retry then, whatever the round's state since: its update is in), or
  // the close may have begun meanwhile.
  const stored = await asRetry(ctx, job, env);
  if (stored) return stored;
  if ((await ctx.kv.get(closingKey(env.jobId, job.round))).versionstamp) {
    return closingRefusal(job.round, spec);
  }
  // Secure aggregation: no readable update, only the committed digests (./secure_round.ts).
  const slot = slotOf(place, spec);
  const payload = spec.secureAggregation
    ? securePayload(slot, env)
    : await readPayload(ctx, slot, spec, env);
  if (!payload.ok) return payload;
  return await storeUpdate(ctx, job, spec, env, payload);
}

function isCommitted(ctx: Context, env: SignedUpdateEnvelope): Promise<boolean> {
  const { jobId, round, nodePubkey, lossDigest, gradientDigest, weightsDigest } = env;
  return isResultCommitted(ctx.chain.client, {
    addresses: ctx.chain.addresses,
    jobId,
    round,
    nodePubkey,
    lossDigest,
    gradientDigest,
    weightsDigest,
  });
}

/**
 * The round must be open; asynchronous jobs (FedBuff) also take updates trained on a recent
 * older checkpoint: they count in the open round, down-weighted by their staleness.
 */
export function checkRound(
  job: Pick<JobHead, "round">,
  spec: JobSpec,
  env: Pick<SignedUpdateEnvelope, "round">,
): Rejection | undefined {
  const maxStale = spec.asynchronous?.maxStaleness ?? 0;
  if (env.round <= job.round && env.round >= job.round - maxStale) return undefined;
  return refuse(
    409,
    ROUND_NOT_OPEN,
    `round ${env.round} is not the open round ${job.round}` +
      (maxStale ? ` (or one of the ${maxStale} before it)` : ""),
  );
}

function checkAssigned(place: JobNodeRecord | null): Rejection | undefined {
  if (holdsTask(place)) return undefined;
  return refuse(403, "NOT_ASSIGNED", "node holds no task of this job");
}

/** The stored update when `env` repeats it (200), a refusal when it differs. */
async function asRetry(
  ctx: Context,
  job: JobHead,
  env: SignedUpdateEnvelope,
): Promise<IntakeResult | undefined> {
  const key = updateKey(env.jobId, job.round, env.nodePubkey);
  const existing = (await ctx.kv.get<UpdateRecord>(key)).value;
  if (!existing) return undefined;
  // A retry is the same signed envelope: every field the node signed must match the stored one.
  const same =
    (["updateCid", "samples", "steps", "meanLoss", "lossDigest", "gradientDigest"] as const)
      .every((k) => existing[k] === env[k]) &&
    existing.weightsDigest === env.weightsDigest && existing.proofsRoot === env.proofsRoot;
  if (same) return { ok: true, status: 200, record: existing };
  return refuse(409, "UPDATE_CONFLICT", "a different update of this node is already in");
}

/**
 * An asynchronous job's stale update counts once. Its envelope is public and still in the
 * staleness window after the round it counted in, so without this anyone could re-post it each
 * round: counted again, and the node's own update for the open round refused as a conflict.
 */
async function countedBefore(
  ctx: Context,
  job: JobHead,
  env: SignedUpdateEnvelope,
): Promise<Rejection | undefined> {
  for (let r = env.round; r < job.round; r++) {
    const u = (await ctx.kv.get<UpdateRecord>(updateKey(env.jobId, r, env.nodePubkey))).value;
    if (u && (u.baseRound ?? u.round) === env.round) {
      const why = `this node's update from round ${env.round} already counted in round ${r}`;
      return refuse(409, UPDATE_COUNTED, why);
    }
  }
  return undefined;
}

/**
 * Signatures count only in this deployment's domain (its ProofOfCompute on its chain). The proofs
 * are counted before any is checked: the task signs one every `proofEvery` steps and one at the
 * last, and a body of copies of one proof cost a signature check each (~2 ms) before.
 */
export function checkSignatures(
  ctx: Context,
  spec: Pick<JobSpec, "localSteps" | "proofEvery">,
  env: SignedUpdateEnvelope,
): Rejection | undefined {
  const domain = arthaDomain(ctx.chain.chainId, ctx.chain.addresses.proofs);
  if (!verifyEnvelopeSignature(env, domain)) {
    return refuse(401, "BAD_SIGNATURE", "signature does not verify");
  }
  if (env.proofs.length === 0) return refuse(400, "NO_PROOFS", "no train proofs");
  const signed = Math.ceil(spec.localSteps / spec.proofEvery);
  if (env.proofs.length !== signed) {
    const why = `${env.proofs.length} train proofs, where the task signs ${signed}`;
    return refuse(400, "WRONG_PROOF_COUNT", why);
  }
  for (const p of env.proofs) {
    if (p.nodePubkey.toLowerCase() !== env.nodePubkey || p.jobId.toLowerCase() !== env.jobId) {
      return refuse(400, "FOREIGN_PROOF", "a proof belongs to another node or job");
    }
    if (!verifyTrainProof(p, domain)) {
      return refuse(401, "BAD_SIGNATURE", "a train proof signature does not verify");
    }
  }
  if (proofsRoot(env.proofs, domain) !== env.proofsRoot) {
    return refuse(400, "BAD_PROOFS_ROOT", "proofs do not hash to proofsRoot");
  }
  return undefined;
}

/**
 * `samples` is the update's FedAvg weight and only the node signs it: it must be what the
 * task produces, or one node could outweigh all others by claiming more.
 */
export function checkTaskSize(spec: JobSpec, env: SignedUpdateEnvelope): Rejection | undefined {
  const taskSamples = spec.localSteps * spec.batch.B * spec.batch.accumSteps;
  if (env.steps === spec.localSteps && env.samples === taskSamples) return undefined;
  return refuse(
    422,
    "WRONG_TASK_SIZE",
    `steps ${env.steps} and samples ${env.samples} are not the task's ` +
      `${spec.localSteps} and ${taskSamples}`,
  );
}

/**
 * The update's bytes from SVDB, decoded, its part checked and its digest the committed one. A
 * private upload counts only as its uploader's update, and no file is read past the job's upload
 * size.
 */
async function readPayload(
  ctx: Context,
  slot: number,
  spec: JobSpec,
  env: SignedUpdateEnvelope,
): Promise<{ ok: true; bytes: number; slot: number; norm: number } | Rejection> {
  const foreign = await foreignUpload(ctx, env);
  if (foreign) return foreign;
  let bytes: Uint8Array;
  try {
    bytes = await ctx.store.get(env.updateCid, { maxBytes: jobUploadBytes(spec) });
  } catch (e) {
    const why = `${env.updateCid} unreadable from SVDB: ${(e as Error).message}`;
    return refuse(422, "UPDATE_UNREADABLE", why);
  }
  let decoded;
  try {
    decoded = decodeUpdateBytes(bytes, paramLayout(spec.model).size);
  } catch (e) {
    return refuse(422, "BAD_UPDATE", (e as Error).message);
  }
  if (decoded.codecId === CODEC_ID.partition) {
    const wrong = checkPartition(bytes, spec, env.round, slot);
    if (wrong) return wrong;
  }
  if (decoded.digest !== env.gradientDigest) {
    return refuse(422, "DIGEST_MISMATCH", "update bytes do not hash to gradientDigest");
  }
  // What the exact accumulator would refuse is refused here, while the node can still hear it:
  // once counted in the round's closing set, a NaN or an overflowing update would fail every
  // attempt to close the round (or to compute its cluster's mean), stalling the job for good.
  // In a hierarchical job a cluster's mean weighs as the sum of its members' terms: each is held
  // to MAX_TERM / clusterSize, else members at the flat limit made every cluster's mean overflow.
  const update = { nodeId: env.nodePubkey, delta: decoded.delta, numSamples: env.samples };
  const unusable = checkUpdate(update, decoded.delta.length) ??
    (spec.aggregation.hierarchical
      ? checkClusterMember(update, spec.aggregation.clusterSize)
      : undefined);
  if (unusable) return refuse(422, "BAD_UPDATE", `update values unusable: ${unusable}`);
  return { ok: true, bytes: bytes.length, slot, norm: l2Norm(decoded.delta) };
}

/**
 * Refuses another uploader's private file named as this node's update. Before, a node of another
 * job that committed a victim's gradient digest (public on chain, its update CID public in
 * cluster tasks) had the victim's update averaged into its own job's public checkpoint, which
 * gave the victim's clean gradient away; and naming a data owner's private shard answered with
 * the decoder's complaint about its first bytes.
 */
async function foreignUpload(
  ctx: Context,
  env: SignedUpdateEnvelope,
): Promise<Rejection | undefined> {
  if (!await foreignPrivate(ctx, env.updateCid, env.nodePubkey)) return undefined;
  return refuse(403, "NOT_YOUR_UPLOAD", `${env.updateCid} is another uploader's private file`);
}

/**
 * In a secure job the envelope names no upload (SECURE_UPDATE_CID): the update stays on the node
 * and reaches the coordinator only masked, summed with the others. Its digests are still checked
 * on chain; an envelope pointing at a readable update is refused, so none is ever pinned.
 */
function securePayload(
  slot: number,
  env: SignedUpdateEnvelope,
): { ok: true; bytes: number; slot: number } | Rejection {
  if (env.updateCid !== SECURE_UPDATE_CID) {
    const why = `a secure job's envelope names no upload (updateCid "${SECURE_UPDATE_CID}")`;
    return refuse(422, "PLAIN_UPDATE", why);
  }
  return { ok: true, bytes: 0, slot };
}

/**
 * A partition payload must be the part the task gave: the round's seed, the node's slot and
 * the job's number of parts. Another part would still decode, but two nodes on one part
 * leave another part unsent and FedAvg's mean would no longer cover every coordinate.
 */
export function checkPartition(
  bytes: Uint8Array,
  spec: JobSpec,
  round: number,
  slot: number,
): Rejection | undefined {
  if (spec.compression?.codec !== "partition") {
    const codec = spec.compression?.codec ?? "fp32";
    return refuse(422, "WRONG_PARTITION", `a partition payload in a job whose codec is ${codec}`);
  }
  const h = readPartitionHeader(bytes);
  const want = {
    parts: spec.compression.parts ?? DEFAULT_PARTS,
    slot,
    seed: partitionSeed(spec.seed, round),
  };
  for (const k of ["parts", "slot", "seed"] as const) {
    if (h[k] !== want[k]) {
      return refuse(422, "WRONG_PARTITION", `partition ${k} ${h[k]} is not the task's ${want[k]}`);
    }
  }
  return undefined;
}

/** Stores the update once (a concurrent retry of itself is answered as a retry). */
async function storeUpdate(
  ctx: Context,
  job: JobHead,
  spec: JobSpec,
  env: SignedUpdateEnvelope,
  payload: { bytes: number; slot: number; norm?: number },
): Promise<IntakeResult> {
  const record: UpdateRecord = {
    jobId: env.jobId,
    round: job.round,
    baseRound: env.round,
    nodePubkey: env.nodePubkey,
    updateCid: env.updateCid,
    samples: env.samples,
    steps: env.steps,
    meanLoss: env.meanLoss,
    lossDigest: env.lossDigest,
    gradientDigest: env.gradientDigest,
    weightsDigest: env.weightsDigest,
    proofsRoot: env.proofsRoot,
    receivedAt: ctx.now(),
    bytes: payload.bytes,
    slot: payload.slot,
    norm: payload.norm,
  };
  const key = updateKey(env.jobId, job.round, env.nodePubkey);
  const closing = closingKey(env.jobId, job.round);
  const secure = env.updateCid === SECURE_UPDATE_CID;
  if (!secure) {
    // Again after the read, which takes seconds for a large update: a pin taken for an update
    // the write then refuses is never released (pins are per root, and the CID may be another
    // file's, so it is not unpinned); checked here, only the moment before the write is left.
    if ((await ctx.kv.get(closing)).versionstamp) return closingRefusal(job.round, spec);
    if (!(await pinUpload(ctx, env.updateCid))) {
      const why = `${env.updateCid} was collected while it was read: upload it again`;
      return refuse(422, "UPDATE_UNREADABLE", why);
    }
    await keepUpdatePrivate(ctx, job, env.updateCid, env.nodePubkey);
  }
  // Only while the round's closing set is not recorded: found in the round pipeline audit, an
  // update stored while the round closed (the job still read as open) was answered 201, never
  // combined, never checked, and skipped as delivered by the undelivered commits' challenges, so
  // a node committed made-up digests and posted them once the close began, paid and unchecked.
  const op = ctx.kv.atomic().check({ key, versionstamp: null }, {
    key: closing,
    versionstamp: null,
  })
    .set(key, record);
  const res = await countUpdate(op, env.jobId, job.round).commit();
  if (!res.ok) return await asRetry(ctx, job, env) ?? closingRefusal(job.round, spec);
  await touchNode(ctx, env.nodePubkey);
  if (!secure) await closeWhenComplete(ctx, job); // a secure round closes when its session ends
  return { ok: true, status: 201, record };
}

/**
 * An update that came once its round's closing set was recorded: the round closes without it. An
 * asynchronous job's is asked again shortly (503), as it counts in the next round once this one
 * closed (found reviewing the closing fix: refused for good, it was lost and its node challenged).
 */
function closingRefusal(round: number, spec: JobSpec): Rejection {
  const why = `round ${round} is closing`;
  if (spec.asynchronous) return refuse(503, "ROUND_CLOSING", `${why}: post it again shortly`);
  return refuse(409, ROUND_NOT_OPEN, `${why}: it closes without this update`);
}

/** How stale a node's `lastSeen` may get before a request rewrites it (one KV write saved on
 * most requests: a node's task fetch and its update come seconds apart). */
export const LAST_SEEN_RESOLUTION_MS = 10_000;

/** Records that a node was just heard from (its record as read, when the caller has it). */
export async function touchNode(
  ctx: Context,
  nodePubkey: Hex,
  node?: NodeRecord | null,
): Promise<void> {
  node ??= (await ctx.kv.get<NodeRecord>(nodeKey(nodePubkey))).value;
  if (!node || ctx.now() - node.lastSeen < LAST_SEEN_RESOLUTION_MS) return;
  await ctx.kv.set(nodeKey(nodePubkey), { ...node, lastSeen: ctx.now() });
}
