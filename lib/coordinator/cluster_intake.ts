/**
 * A cluster aggregator's mean (POST /aggregate/cluster): signed by the cluster's aggregator,
 * covering its members, a checkpoint of the model's size, within the global step's limit and no
 * longer than its members' sample-weighted mean norm, pinned before it counts; a mean that cannot
 * be honest is penalised at once and the cluster is the coordinator's to compute (./clusters.ts
 * audits the rest).
 */
import type { Hex } from "viem";
import { decodeCheckpoint } from "../model/checkpoint.ts";
import { paramLayout } from "../../kernel/params.ts";
import { l2Norm } from "../privacy/dp.ts";
import { arthaDomain } from "../crypto/domain.ts";
import {
  clusterMembersDigest,
  type ClusterSubmission,
  verifyClusterSubmission,
} from "../round/cluster_task.ts";
import { clusterKey, type ClusterRecord, penaliseAggregator } from "./clusters.ts";
import type { Context } from "./context.ts";
import { loadSpec } from "./job.ts";
import { reject, type Rejection } from "./result.ts";
import { getJob, getLarge, type JobHead, setLarge, updateKey, type UpdateRecord } from "./state.ts";
import { keepReferenced, pinUpload } from "./svdb_retention.ts";
import { UPLOAD_HEADER_BYTES } from "./svdb_access.ts";
import { DagTooLargeError } from "../store/store.ts";
import { checkClusterMean } from "../strategy/hierarchical.ts";
import { foreignPrivate, keepUpdatePrivate } from "./svdb_private.ts";

/** An accepted cluster aggregate: 201 when recorded now, 200 for a retry of the same. */
export type ClusterResult = { ok: true; status: 200 | 201; record: ClusterRecord } | Rejection;

const refuse = (status: number, code: string, why: string) =>
  reject(status, code, `Cannot accept cluster: ${why}`);

/** A cluster aggregator's signed result (POST /aggregate/cluster). */
export async function receiveCluster(
  ctx: Context,
  sub: ClusterSubmission,
  signature: Hex,
): Promise<ClusterResult> {
  const job = (await getJob(ctx.kv, sub.jobId, { metrics: false })).value;
  if (!job) return refuse(404, "UNKNOWN_JOB", "unknown job");
  const key = clusterKey(sub.jobId, sub.round, sub.cluster);
  const entry = await getLarge<ClusterRecord>(ctx.kv, key);
  const rec = entry.value;
  if (!rec || job.round !== sub.round) {
    return refuse(404, "UNKNOWN_CLUSTER", "no such open cluster");
  }
  const unsigned = refuseSigner(ctx, rec, sub, signature);
  if (unsigned) return unsigned;
  if (rec.status !== "open") {
    // A refused mean posted again is refused from the record, without a read (found in the
    // hierarchical audit: the signed body carries no nonce, and every copy was read again).
    if (rec.status === "rejected" && rec.aggregateCid === sub.aggregateCid) {
      return refuse(422, "FAKE_AGGREGATE", `${sub.aggregateCid} was refused for this cluster`);
    }
    if (rec.aggregateCid === sub.aggregateCid) return { ok: true, status: 200, record: rec };
    return refuse(409, "CLUSTER_CLOSED", `it is ${rec.status}`);
  }
  // Past its deadline the cluster is the coordinator's to compute, whatever a close has written
  // yet: a mean taken then could differ from the one a concurrent close computes.
  if (ctx.now() >= rec.deadline) {
    return refuse(409, "CLUSTER_CLOSED", "its deadline passed: the coordinator computes it");
  }
  // As at update intake: another uploader's private file (another job's update, a shard) named
  // as the cluster's mean would be averaged into this job's public checkpoint.
  if (await foreignPrivate(ctx, sub.aggregateCid, sub.nodePubkey)) {
    const why = `${sub.aggregateCid} is another uploader's private file`;
    return refuse(403, "NOT_YOUR_UPLOAD", why);
  }
  const bad = await checkAggregate(ctx, job, rec, sub);
  if (bad && !("fake" in bad)) return bad;
  if (bad) return await refuseFake(ctx, job, entry, sub, bad);
  // Pinned before it counts (as at update intake): a collection after the check took a mean
  // that was only leased, and the round's close could never read it.
  if (!(await pinUpload(ctx, sub.aggregateCid))) {
    const why = `${sub.aggregateCid} was collected while it was read: upload it again`;
    return refuse(422, "AGGREGATE_UNREADABLE", why);
  }
  // A mean of a few members' updates says about as much of their data as the updates do.
  await keepUpdatePrivate(ctx, job, sub.aggregateCid, sub.nodePubkey);
  const next: ClusterRecord = {
    ...rec,
    status: "submitted",
    aggregateCid: sub.aggregateCid,
    totalSamples: sub.totalSamples,
  };
  const res = await setLarge(ctx.kv.atomic().check(entry), key, next).commit();
  if (!res.ok) return receiveCluster(ctx, sub, signature); // raced: answer from the new state
  return { ok: true, status: 201, record: next };
}

/**
 * No honest mean looks like this: the aggregator pays as for a failed audit, and the coordinator
 * computes the cluster from its members instead. The penalty goes first (it is sent once, however
 * often this runs): found in the KV audit, a cluster marked rejected before a penalty whose chain
 * call failed was never penalised, and the aggregator's retry was answered 200.
 */
async function refuseFake(
  ctx: Context,
  job: Pick<JobHead, "jobId" | "round">,
  entry: { key: Deno.KvKey; value: ClusterRecord | null; versionstamp: string | null },
  sub: ClusterSubmission,
  { fake, oversized }: Fake,
): Promise<ClusterResult> {
  const rec = entry.value!;
  // The evidence, while it is there; not a file larger than any mean (its size is the evidence),
  // which a pin would fetch whole from the network.
  if (!oversized) await keepReferenced(ctx, [sub.aggregateCid]);
  await keepUpdatePrivate(ctx, job, sub.aggregateCid, sub.nodePubkey);
  await penaliseAggregator(ctx, job, rec);
  const caught: ClusterRecord = { ...rec, status: "rejected", aggregateCid: sub.aggregateCid };
  await setLarge(ctx.kv.atomic().check(entry), entry.key, caught).commit();
  return refuse(422, "FAKE_AGGREGATE", `${fake}; penalised, the coordinator computes it`);
}

/**
 * Why `sub` is not the cluster's aggregator's signed mean of the cluster's members (undefined:
 * it is).
 */
function refuseSigner(
  ctx: Context,
  rec: ClusterRecord,
  sub: ClusterSubmission,
  signature: Hex,
): Rejection | undefined {
  if (rec.aggregator !== sub.nodePubkey) {
    return refuse(403, "NOT_AGGREGATOR", "node is not its aggregator");
  }
  const domain = arthaDomain(ctx.chain.chainId, ctx.chain.addresses.proofs);
  if (!verifyClusterSubmission(sub, signature, domain)) {
    return refuse(401, "BAD_SIGNATURE", "signature does not verify");
  }
  // Found in the worker audit: a relay that swapped a member of the task for another node that
  // committed the round (its update checks against the chain) had the honest aggregator's mean
  // differ from this record, and the aggregator penalised 50%. It signs the members it summed:
  // other members than the record's are a task edited on its way, refused, and not penalised.
  if (sub.membersDigest !== clusterMembersDigest(rec.members)) {
    const why = "the mean sums other members than the cluster's (its task was changed on the " +
      "way to the aggregator); ask GET /assign again";
    return refuse(409, "OTHER_MEMBERS", why);
  }
  return undefined;
}

/** Why a mean is no honest one; `oversized` when it is larger than any mean (and was not read). */
type Fake = { fake: string; oversized?: true };

/**
 * The aggregate covers the members' samples (else a plain refusal) and is a checkpoint of the
 * model's length, read no further than a mean's size, that the global step takes (finite, total
 * samples * |mean| under 2^28) and no longer than its members' sample-weighted mean norm, scaled
 * (else `fake`: by the triangle inequality a weighted mean of updates is never longer, so however
 * the audit draw falls, a mean inflated or made up beyond that is caught at once; found in the
 * hierarchical audit, the longest member's norm let an aggregator post its own inflated update).
 */
async function checkAggregate(
  ctx: Context,
  job: JobHead,
  rec: ClusterRecord,
  sub: ClusterSubmission,
): Promise<Rejection | Fake | undefined> {
  const total = rec.members.reduce((s, m) => s + m.samples, 0);
  if (sub.totalSamples !== total) {
    const why = `totalSamples ${sub.totalSamples} is not the members' ${total}`;
    return refuse(422, "WRONG_TOTAL_SAMPLES", why);
  }
  const length = paramLayout((await loadSpec(ctx.store, job.specCid)).model).size;
  const read = await readMean(ctx, sub.aggregateCid, length);
  if (!(read instanceof Float32Array)) return read;
  const mean = read;
  if (mean.length !== length) return { fake: `${mean.length} values, the model has ${length}` };
  const unusable = checkClusterMean(
    { clusterId: `cluster-${rec.cluster}`, delta: mean, totalSamples: total },
    length,
  );
  if (unusable) return { fake: `the global step would refuse it: ${unusable}` };
  const bound = await meanNormBound(ctx, job, rec, sub.round);
  if (bound === undefined) return undefined; // recorded before norms were: no bound known
  const norm = l2Norm(mean);
  // f32 rounding of an exact mean moves its norm by ~1e-7 relative; 1e-5 leaves room.
  if (norm > bound * (1 + 1e-5) + 1e-30) {
    return { fake: `norm ${norm} exceeds its members' sample-weighted mean norm ${bound}` };
  }
  return undefined;
}

/**
 * The mean's values, read no further than a mean of `length` values can be (4 bytes a value and
 * a checkpoint's header): found in the hierarchical audit, the named file was read whole (up to
 * the store's 1 GiB) at every post. Larger or undecodable: fake (no honest mean is either); gone
 * from the store: a plain refusal (upload it and post again).
 */
async function readMean(
  ctx: Context,
  cid: string,
  length: number,
): Promise<Float32Array | Rejection | Fake> {
  let bytes: Uint8Array;
  try {
    bytes = await ctx.store.get(cid, { maxBytes: 4 * length + UPLOAD_HEADER_BYTES });
  } catch (e) {
    if (e instanceof DagTooLargeError) {
      return { fake: `${cid} is larger than a mean of ${length} values`, oversized: true };
    }
    return refuse(422, "AGGREGATE_UNREADABLE", `${cid} unreadable: ${(e as Error).message}`);
  }
  try {
    return decodeCheckpoint(bytes).weights;
  } catch (e) {
    return { fake: `${cid} is no checkpoint: ${(e as Error).message}` };
  }
}

/**
 * The members' sample-weighted mean norm, each scaled by its staleness weight: sum w_i s_i |u_i|
 * / sum w_i, which bounds |sum w_i s_i u_i / sum w_i|. Undefined when a member's norm is unknown.
 */
async function meanNormBound(
  ctx: Context,
  job: JobHead,
  rec: ClusterRecord,
  round: number,
): Promise<number | undefined> {
  let weighted = 0;
  let samples = 0;
  for (const m of rec.members) {
    const u = (await ctx.kv.get<UpdateRecord>(updateKey(job.jobId, round, m.nodePubkey))).value;
    if (u?.norm === undefined) return undefined;
    weighted += m.samples * m.scale * u.norm;
    samples += m.samples;
  }
  return weighted / samples;
}
