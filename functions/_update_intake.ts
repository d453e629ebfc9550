/**
 * POST /aggregate/update — one worker's signed round update. Accepted only if the node holds a
 * task of the open round (or, in asynchronous jobs, of a recent one), the envelope's signature
 * and every per-step proof's signature verify, the proofs hash to proofsRoot, the update in SVDB
 * hashes to the committed gradientDigest (a partition payload must be the task's part), its samples are what the task produces, and the same
 * digests are committed on chain. Stored once: a retry of the same update is a 200, a different
 * one a 409.
 */
import { abis } from "../lib/chain/contracts.ts";
import { proofsRoot, verifyTrainProof } from "../lib/train_proof.ts";
import { arthaDomain } from "../lib/domain.ts";
import {
  decodeUpdateBytes,
  proofsFromJson,
  type SignedUpdateEnvelope,
  verifyEnvelopeSignature,
} from "../lib/update_envelope.ts";
import { paramLayout } from "../kernel/params.ts";
import { CODEC_ID } from "../lib/compress/codec.ts";
import { DEFAULT_PARTS, partitionSeed, readPartitionHeader } from "../lib/compress/partition.ts";
import type { JobSpec } from "../lib/job_spec.ts";
import type { Context } from "./_context.ts";
import { field, HttpError } from "./_http.ts";
import { loadSpec, slotOf } from "./_job.ts";
import { getJob, nodeKey, type NodeRecord, updateKey, type UpdateRecord } from "./_state.ts";

/** Validates and stores one update; returns [status, record]. */
export async function receiveUpdate(
  ctx: Context,
  body: Record<string, unknown>,
): Promise<[number, UpdateRecord]> {
  const env: SignedUpdateEnvelope = {
    jobId: field.hex32(body, "jobId"),
    round: field.int(body, "round", 0, 100_000),
    nodePubkey: field.hex32(body, "nodePubkey"),
    updateCid: field.string(body, "updateCid", { max: 200 }),
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
    throw new HttpError(400, `Invalid field "proofs": ${(e as Error).message}`);
  }
  const job = (await getJob(ctx.kv, env.jobId)).value;
  if (!job) throw new HttpError(404, "Cannot accept update: unknown job");
  if (job.status !== "running") {
    throw new HttpError(409, `Cannot accept update: job is ${job.status}`);
  }
  const spec = await loadSpec(ctx.store, job.specCid);
  // Asynchronous jobs (FedBuff) also take updates trained on a recent older checkpoint; they
  // count in the open round, down-weighted by their staleness.
  const maxStale = spec.asynchronous?.maxStaleness ?? 0;
  if (env.round > job.round || env.round < job.round - maxStale) {
    throw new HttpError(
      409,
      `Cannot accept update: round ${env.round} is not the open round ${job.round}` +
        (maxStale ? ` (or one of the ${maxStale} before it)` : ""),
    );
  }
  if (!job.assigned.includes(env.nodePubkey)) {
    throw new HttpError(403, "Cannot accept update: node holds no task of this job");
  }
  const existing =
    (await ctx.kv.get<UpdateRecord>(updateKey(env.jobId, job.round, env.nodePubkey))).value;
  if (existing) {
    if (existing.updateCid === env.updateCid && existing.gradientDigest === env.gradientDigest) {
      return [200, existing];
    }
    throw new HttpError(409, "Cannot accept update: a different update of this node is already in");
  }
  // Signatures count only in this deployment's domain (its ProofOfCompute on its chain).
  const domain = arthaDomain(ctx.chain.chainId, ctx.chain.addresses.proofs);
  if (!verifyEnvelopeSignature(env, domain)) {
    throw new HttpError(401, "Cannot accept update: signature does not verify");
  }
  if (env.proofs.length === 0) throw new HttpError(400, "Cannot accept update: no train proofs");
  for (const p of env.proofs) {
    if (p.nodePubkey.toLowerCase() !== env.nodePubkey || p.jobId.toLowerCase() !== env.jobId) {
      throw new HttpError(400, "Cannot accept update: a proof belongs to another node or job");
    }
    if (!verifyTrainProof(p, domain)) {
      throw new HttpError(401, "Cannot accept update: a train proof signature does not verify");
    }
  }
  if (proofsRoot(env.proofs, domain) !== env.proofsRoot) {
    throw new HttpError(400, "Cannot accept update: proofs do not hash to proofsRoot");
  }
  // `samples` is the update's FedAvg weight and only the node signs it: it must be what the
  // task produces, or one node could outweigh all others by claiming more.
  const taskSamples = spec.localSteps * spec.batch.B * spec.batch.accumSteps;
  if (env.steps !== spec.localSteps || env.samples !== taskSamples) {
    throw new HttpError(
      422,
      `Cannot accept update: steps ${env.steps} and samples ${env.samples} are not the task's ` +
        `${spec.localSteps} and ${taskSamples}`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await ctx.store.get(env.updateCid);
  } catch (e) {
    throw new HttpError(
      422,
      `Cannot accept update: ${env.updateCid} unreadable from SVDB: ${(e as Error).message}`,
    );
  }
  let decoded;
  try {
    decoded = decodeUpdateBytes(bytes, paramLayout(spec.model).size);
  } catch (e) {
    throw new HttpError(422, `Cannot accept update: ${(e as Error).message}`);
  }
  const slot = slotOf(job.assigned, spec, env.nodePubkey);
  if (decoded.codecId === CODEC_ID.partition) checkPartition(bytes, spec, env.round, slot);
  if (decoded.digest !== env.gradientDigest) {
    throw new HttpError(422, "Cannot accept update: update bytes do not hash to gradientDigest");
  }
  const { client, addresses } = ctx.chain;
  const [onChain, expected] = await Promise.all([
    client.readContract({
      address: addresses.proofs,
      abi: abis.proofs,
      functionName: "resultOf",
      args: [env.jobId, env.round, env.nodePubkey],
    }),
    client.readContract({
      address: addresses.proofs,
      abi: abis.proofs,
      functionName: "resultHash",
      args: [env.lossDigest, env.gradientDigest, env.weightsDigest],
    }),
  ]);
  if (onChain !== expected) {
    throw new HttpError(
      409,
      "Cannot accept update: these digests are not committed on chain (commitRound first)",
    );
  }
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
    bytes: bytes.length,
    slot,
  };
  const key = updateKey(env.jobId, job.round, env.nodePubkey);
  const res = await ctx.kv.atomic().check({ key, versionstamp: null }).set(key, record).commit();
  if (!res.ok) return receiveUpdate(ctx, body); // raced with a retry of itself: answer as a retry
  const node = (await ctx.kv.get<NodeRecord>(nodeKey(env.nodePubkey))).value;
  if (node) await ctx.kv.set(nodeKey(env.nodePubkey), { ...node, lastSeen: ctx.now() });
  return [201, record];
}

/**
 * A partition payload must be the part the task gave: the round's seed, the node's slot and
 * the job's number of parts. Another part would still decode, but two nodes on one part
 * leave another part unsent and FedAvg's mean would no longer cover every coordinate.
 */
function checkPartition(bytes: Uint8Array, spec: JobSpec, round: number, slot: number): void {
  if (spec.compression?.codec !== "partition") {
    throw new HttpError(
      422,
      `Cannot accept update: a partition payload in a job whose codec is ${
        spec.compression?.codec ?? "fp32"
      }`,
    );
  }
  const h = readPartitionHeader(bytes);
  const want = {
    parts: spec.compression.parts ?? DEFAULT_PARTS,
    slot,
    seed: partitionSeed(spec.seed, round),
  };
  for (const k of ["parts", "slot", "seed"] as const) {
    if (h[k] !== want[k]) {
      throw new HttpError(
        422,
        `Cannot accept update: partition ${k} ${h[k]} is not the task's ${want[k]}`,
      );
    }
  }
}
