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
import { clusterMean, type ClusterMember, type ClusterTask } from "../round/cluster_task.ts";
import {
  checkClusterMean,
  type ClusterAggregate,
  combineClusters,
} from "../strategy/hierarchical.ts";
import { f32Bytes } from "../round/local_training.ts";
import { sqrtStaleness } from "../strategy/fed_buff.ts";
import type { Context } from "./context.ts";
import {
  getLarge,
  type JobHead,
  type JobRecord,
  setLarge,
  updateKey,
  type UpdateRecord,
} from "./state.ts";
import { once } from "./once.ts";
import { grantReads } from "./svdb_private.ts";

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

export const clusterKey = (
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
      const current: ClusterMember[] = [];
      for (const n of nodes.slice(i, i + size)) {
        const u = (await ctx.kv.get<UpdateRecord>(updateKey(job.jobId, job.round, n))).value!;
        const tau = job.round - (u.baseRound ?? job.round);
        const member = {
          nodePubkey: n,
          updateCid: u.updateCid,
          samples: u.samples,
          scale: tau > 0 ? sqrtStaleness(tau) : 1,
        };
        members.push(member);
        if (tau === 0) current.push(member);
      }
      // A member aggregates its own cluster; which one rotates with the round. It reads its
      // cluster's updates, and no other node does. Only a member that committed this round: found
      // in the KV audit, the chain penalises an aggregator only for a round it committed in, so a
      // stale member's fake mean went unpunished. A cluster of stale members only is the
      // coordinator's to compute.
      const aggregator = (current[job.round % current.length] ?? members[0]!).nodePubkey as Hex;
      if (current.length > 0) {
        for (const m of members) await grantReads(ctx, job.jobId, m.updateCid, [aggregator]);
      }
      const fresh: ClusterRecord = {
        cluster: c,
        aggregator,
        members,
        deadline: ctx.now() + Math.max(1, Math.floor(spec.aggregation.deadlineMs / 2)),
        status: current.length > 0 ? "open" : "fallback",
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
  // From the records alone: found in the hierarchical audit, every (unauthenticated) POST
  // /aggregate of a waiting round read and decoded each mean posted so far before it came to the
  // open cluster.
  if (clusters.some((rec) => awaited(ctx, rec))) return undefined;
  const means: ClusterAggregate[] = [];
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
  const refused = means.filter((m) => checkClusterMean(m, length) !== undefined);
  if (refused.length === 0) return { delta: combineClusters(means).delta, bytes };
  return { delta: await flatMean(ctx, job, clusters, refused, length), bytes };
}

/** Whether the round waits for `rec`'s aggregator: open, its deadline not passed. */
function awaited(ctx: Context, rec: ClusterRecord): boolean {
  return rec.status === "open" && ctx.now() < rec.deadline;
}

/**
 * The exact flat mean of every cluster's members, computed by the coordinator: what the round
 * takes when the global step would leave a cluster's mean out (updates stored before intake held
 * members to the cluster bound). Found in the hierarchical audit: such a cluster's updates
 * vanished from the model while the round reported and paid them, and with every cluster left
 * out the round threw at each close and never closed. Each update passed intake's flat bound, so
 * this mean always takes all of them.
 */
async function flatMean(
  ctx: Context,
  job: JobRecord,
  clusters: readonly ClusterRecord[],
  refused: readonly ClusterAggregate[],
  length: number,
): Promise<Float32Array> {
  const which = refused.map((m) => `${m.clusterId} (${checkClusterMean(m, length)})`);
  console.warn(
    `round ${job.round} of ${job.jobId}: the global step refuses ${which.join(", ")}; ` +
      "combining the round's updates flat",
  );
  const members = clusters.flatMap((rec) => rec.members);
  return (await clusterMean(members, (cid) => ctx.store.get(cid), length)).delta;
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

/**
 * Records a cluster's new status, moved from `rec`'s as this close read it. Found in the KV audit:
 * the check was against the record re-read at the write, so it never failed: a close that took
 * an open cluster past its deadline for the coordinator's mean, beside another process's close
 * that took the aggregator's mean posted meanwhile, could put one checkpoint on chain and the
 * other in KV. A record another process moved elsewhere fails this close (the next one reads it).
 */
async function setClusterStatus(
  ctx: Context,
  job: JobRecord,
  rec: ClusterRecord,
  status: ClusterRecord["status"],
): Promise<void> {
  const key = clusterKey(job.jobId, job.round, rec.cluster);
  const now = await getLarge<ClusterRecord>(ctx.kv, key);
  if (now.value?.status === status) return; // another close of the same round got here first
  const write = now.value?.status === rec.status &&
    (await setLarge(ctx.kv.atomic().check(now), key, { ...rec, status }).commit()).ok;
  if (!write) {
    throw new Error(
      `Cannot close round ${job.round}: cluster ${rec.cluster} went from ${rec.status} to ` +
        `${now.value?.status ?? "nothing"} during the close; the next close reads it`,
    );
  }
}

/**
 * A fake cluster aggregate is a fake gradient (50%, once per round on chain). The chain takes no
 * second penalty of the round (a node that faked two clusters), nor one of a node that committed
 * nothing in it: either way the cluster is still recomputed by the coordinator.
 */
export async function penaliseAggregator(
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
    // Not past its deadline: its mean would be refused (cluster_intake.ts), and the aggregator
    // would fetch, average and post it again at every poll until the round closed.
    if (rec.status === "open" && rec.aggregator === node && ctx.now() < rec.deadline) {
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

/** Every cluster record of a round (for status and tests). */
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
