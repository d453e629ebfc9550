/**
 * Cluster aggregation by workers (lib/round/cluster_task.ts), the coordinator's half. When a
 * round of a hierarchical job closes with more than clusterSize updates, its updates are split
 * into clusters (sorted node ids, so every restart splits the same way), each with one member as
 * cluster aggregator. Aggregators fetch their tasks from GET /assign and post the cluster mean to
 * POST /aggregate/cluster. The coordinator audits a share of clusters by recomputation (the exact
 * sum makes an honest aggregate bit-identical), penalises an aggregator whose mean differs, and
 * computes clusters itself whose aggregator missed the deadline.
 */
import type { Hex } from "viem";
import { penaliseAggregator as penaliseOnChain } from "../chain/penalise_aggregator.ts";
import { decodeCheckpoint } from "../model/checkpoint.ts";
import { bytesToHex, digestHex, hexToBytes } from "../crypto/digest.ts";
import type { JobSpec } from "../job/job_spec.ts";
import {
  clusterMean,
  type ClusterMember,
  clusterMembersDigest,
  type ClusterSubmission,
  type ClusterTask,
  verifyClusterSubmission,
} from "../round/cluster_task.ts";
import { combineClusters } from "../strategy/hierarchical.ts";
import { f32Bytes } from "../round/local_training.ts";
import { sqrtStaleness } from "../strategy/fed_buff.ts";
import type { Context } from "./context.ts";
import { reject, type Rejection } from "./result.ts";
import { arthaDomain } from "../crypto/domain.ts";
import {
  getJob,
  getLarge,
  type JobHead,
  type JobRecord,
  setLarge,
  updateKey,
  type UpdateRecord,
} from "./state.ts";
import { keepReferenced, pinUpload } from "./svdb_retention.ts";
import { once } from "./once.ts";
import { foreignPrivate, grantReads, keepUpdatePrivate } from "./svdb_private.ts";
import { loadSpec } from "./job.ts";
import { paramLayout } from "../../kernel/params.ts";
import { l2Norm } from "../privacy/dp.ts";

export interface ClusterRecord {
  cluster: number;
  aggregator: Hex;
  members: ClusterMember[];
  /** Ms after which the coordinator computes the cluster itself. */
  deadline: number;
  status: "open" | "submitted" | "audited" | "rejected" | "fallback";
  aggregateCid?: string;
  totalSamples?: number;
}

const clusterKey = (
  jobId: string,
  round: number,
  i: number,
): Deno.KvKey => ["cluster", jobId, round, i];

/** Whether this round is aggregated by worker clusters. */
export function isHierarchical(spec: JobSpec, updates: number): boolean {
  return spec.aggregation.hierarchical === true && updates > spec.aggregation.clusterSize;
}

/** Creates (once) the cluster records of a closing round. */
async function ensureClusters(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  nodes: string[],
): Promise<ClusterRecord[]> {
  const size = spec.aggregation.clusterSize;
  const out: ClusterRecord[] = [];
  for (let i = 0, c = 0; i < nodes.length; i += size, c++) {
    const key = clusterKey(job.jobId, job.round, c);
    let rec = (await getLarge<ClusterRecord>(ctx.kv, key)).value;
    if (!rec) {
      const members: ClusterMember[] = [];
      for (const n of nodes.slice(i, i + size)) {
        const u = (await ctx.kv.get<UpdateRecord>(updateKey(job.jobId, job.round, n))).value!;
        const tau = job.round - (u.baseRound ?? job.round);
        members.push({
          nodePubkey: n,
          updateCid: u.updateCid,
          samples: u.samples,
          scale: tau > 0 ? sqrtStaleness(tau) : 1,
        });
      }
      // A member aggregates its own cluster; which one rotates with the round. It reads its
      // cluster's updates, and no other node does.
      const aggregator = members[job.round % members.length]!.nodePubkey as Hex;
      for (const m of members) await grantReads(ctx, job.jobId, m.updateCid, [aggregator]);
      const fresh: ClusterRecord = {
        cluster: c,
        aggregator,
        members,
        deadline: ctx.now() + Math.max(1, Math.floor(spec.aggregation.deadlineMs / 2)),
        status: "open",
      };
      await setLarge(ctx.kv.atomic().check({ key, versionstamp: null }), key, fresh).commit();
      rec = (await getLarge<ClusterRecord>(ctx.kv, key)).value!;
    }
    out.push(rec);
  }
  return out;
}

/** Where the coordinator keeps the secret its cluster audits are drawn with. */
const AUDIT_SECRET: Deno.KvKey = ["secret", "cluster_audit"];

/** The coordinator's audit secret: 32 random bytes, made once and kept in KV across restarts. */
async function auditSecret(ctx: Context): Promise<Uint8Array> {
  const kept = await ctx.kv.get<Uint8Array>(AUDIT_SECRET);
  if (kept.value) return kept.value;
  const fresh = crypto.getRandomValues(new Uint8Array(32));
  await ctx.kv.atomic().check({ key: AUDIT_SECRET, versionstamp: null }).set(AUDIT_SECRET, fresh)
    .commit();
  return (await ctx.kv.get<Uint8Array>(AUDIT_SECRET)).value!; // ours, or a racing writer's
}

/**
 * Whether a submitted cluster aggregate is audited: keccak of the coordinator's secret, the
 * round's place and the submitted CID, under `rate`. Nothing the aggregator can read tells it
 * the draw before it submits (a draw from public data did: an aggregator forged only the means it
 * knew would not be checked), and the same submission always draws the same after a restart.
 *
 * @example
 * ```ts
 * import { auditDrawn } from "./clusters.ts";
 * const at = { jobId: `0x${"11".repeat(32)}` as const, round: 0, cluster: 0, aggregateCid: "bafy" };
 * const secret = new Uint8Array(32);
 * console.assert(auditDrawn(secret, at, 1) && !auditDrawn(secret, at, 0));
 * ```
 */
export function auditDrawn(
  secret: Uint8Array,
  at: { jobId: Hex; round: number; cluster: number; aggregateCid: string },
  rate: number,
): boolean {
  const place = `${at.jobId.slice(2)}${at.round.toString(16).padStart(8, "0")}${
    at.cluster.toString(16).padStart(8, "0")
  }`;
  const cid = bytesToHex(new TextEncoder().encode(at.aggregateCid)).slice(2);
  const h = digestHex(hexToBytes(`${bytesToHex(secret)}${place}${cid}`));
  return Number(BigInt(h) % 1_000_000n) < rate * 1_000_000;
}

/**
 * The round's aggregated delta from cluster aggregates, or undefined while clusters are still
 * being aggregated. Returns the bytes read (for the round's traffic figure) too.
 */
export async function clusteredDelta(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  nodes: string[],
  length: number,
): Promise<{ delta: Float32Array; bytes: number } | undefined> {
  const clusters = await ensureClusters(ctx, job, spec, nodes);
  const means = [];
  let bytes = 0;
  for (const rec of clusters) {
    const mean = await clusterMeanOf(ctx, job, spec, rec, length);
    if (!mean) return undefined;
    bytes += mean.bytes;
    for (const m of rec.members) {
      const key = updateKey(job.jobId, job.round, m.nodePubkey);
      bytes += (await ctx.kv.get<UpdateRecord>(key)).value?.bytes ?? 0;
    }
    means.push({
      clusterId: `cluster-${rec.cluster}`,
      delta: mean.delta,
      totalSamples: mean.totalSamples,
      accepted: [],
      rejected: [],
    });
  }
  return { delta: combineClusters(means).delta, bytes };
}

type ClusterMean = { delta: Float32Array; totalSamples: number; bytes: number };

/** Share of submitted cluster aggregates the coordinator recomputes when the spec sets none. */
export const DEFAULT_CLUSTER_AUDIT = 0.25;

/**
 * One cluster's mean: its aggregator's (audited by a keccak draw: a wrong one is penalised
 * and replaced), or the coordinator's own once the aggregator missed the deadline or lied.
 * Records the cluster's new status.
 */
async function clusterMeanOf(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  rec: ClusterRecord,
  length: number,
): Promise<ClusterMean | undefined> {
  let mean: ClusterMean | undefined;
  let status = rec.status;
  if (rec.status === "submitted" || rec.status === "audited") {
    ({ mean, status } = await submittedMean(ctx, job, spec, rec, length));
  } else if (rec.status === "open" && ctx.now() >= rec.deadline) {
    mean = await coordinatorMean(ctx, rec, length);
    status = "fallback";
  } else if (rec.status === "rejected" || rec.status === "fallback") {
    mean = await coordinatorMean(ctx, rec, length);
  }
  if (status !== rec.status) await setClusterStatus(ctx, job, rec, status);
  return mean;
}

/** The cluster's mean computed by the coordinator from its members' updates. */
async function coordinatorMean(
  ctx: Context,
  rec: ClusterRecord,
  length: number,
): Promise<ClusterMean> {
  return { ...await clusterMean(rec.members, (cid) => ctx.store.get(cid), length), bytes: 0 };
}

/**
 * The aggregator's submitted mean; a freshly submitted one drawn for audit is recomputed and,
 * when it differs, penalised and replaced by the coordinator's (status "rejected").
 */
async function submittedMean(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  rec: ClusterRecord,
  length: number,
): Promise<{ mean: ClusterMean; status: ClusterRecord["status"] }> {
  const agg = await ctx.store.get(rec.aggregateCid!);
  const mean = {
    delta: decodeCheckpoint(agg).weights,
    totalSamples: rec.totalSamples!,
    bytes: agg.length,
  };
  const rate = spec.aggregation.clusterAudit ?? DEFAULT_CLUSTER_AUDIT;
  if (rec.status !== "submitted") return { mean, status: rec.status };
  const at = { jobId: job.jobId, round: job.round, cluster: rec.cluster };
  if (!auditDrawn(await auditSecret(ctx), { ...at, aggregateCid: rec.aggregateCid! }, rate)) {
    return { mean, status: rec.status };
  }
  const honest = await coordinatorMean(ctx, rec, length);
  const same = honest.totalSamples === mean.totalSamples &&
    digestHex(f32Bytes(honest.delta)) === digestHex(f32Bytes(mean.delta));
  if (same) return { mean, status: "audited" };
  await penaliseAggregator(ctx, job, rec);
  return { mean: { ...honest, bytes: mean.bytes }, status: "rejected" };
}

/** Records a cluster's new status (checked against a concurrent write). */
async function setClusterStatus(
  ctx: Context,
  job: JobRecord,
  rec: ClusterRecord,
  status: ClusterRecord["status"],
): Promise<void> {
  const key = clusterKey(job.jobId, job.round, rec.cluster);
  await setLarge(ctx.kv.atomic().check(await getLarge(ctx.kv, key)), key, { ...rec, status })
    .commit();
}

/**
 * A fake cluster aggregate is a fake gradient (50%, once per round on chain). The chain takes no
 * second penalty of the round (a node that faked two clusters), nor one of a node that committed
 * nothing in it: either way the cluster is still recomputed by the coordinator.
 */
async function penaliseAggregator(
  ctx: Context,
  job: Pick<JobHead, "jobId" | "round">,
  rec: ClusterRecord,
): Promise<void> {
  const at = {
    addresses: ctx.chain.addresses,
    jobId: job.jobId,
    round: job.round,
    nodePubkey: rec.aggregator,
  };
  await once(() => penaliseOnChain(ctx.chain.client, at), ["Verification__NotAggregatorOffence"]);
}

/** The open cluster task of `node`, if it aggregates one. */
export async function clusterTaskFor(
  ctx: Context,
  job: Pick<JobHead, "jobId" | "specCid" | "round">,
  node: Hex,
): Promise<ClusterTask | undefined> {
  for await (
    const e of ctx.kv.list<{ parts: number }>({ prefix: ["cluster", job.jobId, job.round] })
  ) {
    if (e.key.length !== 4) continue;
    const rec = (await getLarge<ClusterRecord>(ctx.kv, e.key)).value!;
    if (rec.status === "open" && rec.aggregator === node) {
      return {
        status: "cluster",
        jobId: job.jobId,
        specCid: job.specCid,
        round: job.round,
        cluster: rec.cluster,
        members: rec.members,
      };
    }
  }
  return undefined;
}

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
  const job = (await getJob(ctx.kv, sub.jobId)).value;
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
    if (rec.aggregateCid === sub.aggregateCid) return { ok: true, status: 200, record: rec };
    return refuse(409, "CLUSTER_CLOSED", `it is ${rec.status}`);
  }
  // As at update intake: another uploader's private file (another job's update, a shard) named
  // as the cluster's mean would be averaged into this job's public checkpoint.
  if (await foreignPrivate(ctx, sub.aggregateCid, sub.nodePubkey)) {
    const why = `${sub.aggregateCid} is another uploader's private file`;
    return refuse(403, "NOT_YOUR_UPLOAD", why);
  }
  const bad = await checkAggregate(ctx, job, rec, sub);
  if (bad && !("fake" in bad)) return bad;
  if (bad) return await refuseFake(ctx, job, entry, sub, bad.fake);
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
  fake: string,
): Promise<ClusterResult> {
  const rec = entry.value!;
  await keepReferenced(ctx, [sub.aggregateCid]); // the evidence, while it is there
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

/**
 * The aggregate covers the members' samples and is a readable checkpoint (else a plain
 * refusal), of the model's length, finite, and no longer than its longest member, scaled (else
 * `fake`: a weighted mean of updates is never longer than the longest of them, so however the
 * audit draw falls, a mean inflated or made up beyond that is caught at once).
 */
async function checkAggregate(
  ctx: Context,
  job: JobHead,
  rec: ClusterRecord,
  sub: ClusterSubmission,
): Promise<Rejection | { fake: string } | undefined> {
  const total = rec.members.reduce((s, m) => s + m.samples, 0);
  if (sub.totalSamples !== total) {
    const why = `totalSamples ${sub.totalSamples} is not the members' ${total}`;
    return refuse(422, "WRONG_TOTAL_SAMPLES", why);
  }
  let mean: Float32Array;
  try {
    mean = decodeCheckpoint(await ctx.store.get(sub.aggregateCid)).weights;
  } catch (e) {
    return refuse(422, "BAD_AGGREGATE", (e as Error).message);
  }
  const length = paramLayout((await loadSpec(ctx.store, job.specCid)).model).size;
  if (mean.length !== length) return { fake: `${mean.length} values, the model has ${length}` };
  const norm = l2Norm(mean);
  if (!Number.isFinite(norm)) return { fake: "non-finite values" };
  let bound = 0;
  for (const m of rec.members) {
    const u = (await ctx.kv.get<UpdateRecord>(updateKey(job.jobId, sub.round, m.nodePubkey)))
      .value;
    if (u?.norm === undefined) return undefined; // recorded before norms were: no bound known
    bound = Math.max(bound, m.scale * u.norm);
  }
  // f32 rounding of an exact mean moves its norm by ~1e-7 relative; 1e-5 leaves room.
  if (norm > bound * (1 + 1e-5) + 1e-30) {
    return { fake: `norm ${norm} exceeds its longest member's ${bound}` };
  }
  return undefined;
}

/** Every cluster record of a round (for status and tests). */
/**
 * The means a job's aggregators posted, every round. Read whole (records are kept in parts):
 * found in the KV audit, release listed the parts as records, so no mean was ever released and a
 * running job's means were not kept from another job's release.
 */
export async function clusterMeans(kv: Deno.Kv, jobId: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of kv.list({ prefix: ["cluster", jobId] })) {
    if (e.key.length !== 4) continue;
    const cid = (await getLarge<ClusterRecord>(kv, e.key)).value?.aggregateCid;
    if (cid) out.push(cid);
  }
  return out;
}

export async function clustersOf(
  ctx: Context,
  jobId: string,
  round: number,
): Promise<ClusterRecord[]> {
  const out: ClusterRecord[] = [];
  for await (const e of ctx.kv.list({ prefix: ["cluster", jobId, round] })) {
    if (e.key.length === 4) out.push((await getLarge<ClusterRecord>(ctx.kv, e.key)).value!);
  }
  return out;
}
