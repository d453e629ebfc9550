/**
 * Hierarchical aggregation by workers (lib/cluster_task.ts): the coordinator's half. When a
 * round of a hierarchical job closes with more than clusterSize updates, its updates are split
 * into clusters (sorted node ids, so every restart splits the same way), each with one member as
 * cluster aggregator. Aggregators fetch their tasks from GET /assign and post the cluster mean to
 * POST /aggregate/cluster. The coordinator audits a share of clusters by recomputation (the exact
 * sum makes an honest aggregate bit-identical), penalises an aggregator whose mean differs, and
 * computes clusters itself whose aggregator missed the deadline.
 */
import type { Hex } from "viem";
import { abis, SlashReason } from "../lib/chain/contracts.ts";
import { sendContract } from "../lib/chain/_send.ts";
import { decodeCheckpoint } from "../lib/checkpoint.ts";
import { digestHex, hexToBytes } from "../lib/digest.ts";
import type { JobSpec } from "../lib/job_spec.ts";
import {
  clusterMean,
  type ClusterMember,
  type ClusterSubmission,
  type ClusterTask,
  verifyClusterSubmission,
} from "../lib/cluster_task.ts";
import { combineClusters } from "../lib/strategy/hierarchical.ts";
import { f32Bytes } from "../lib/local_training.ts";
import { sqrtStaleness } from "../lib/strategy/fed_buff.ts";
import type { Context } from "./_context.ts";
import { field, HttpError } from "./_http.ts";
import { arthaDomain } from "../lib/domain.ts";
import {
  getJob,
  getLarge,
  type JobRecord,
  listValues,
  setLarge,
  updateKey,
  type UpdateRecord,
} from "./_state.ts";

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
/** Share of stake a wrong cluster aggregate costs (a fake aggregate is a fake gradient). */
export const FAKE_AGGREGATE_BPS = 5_000n;

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
      const fresh: ClusterRecord = {
        cluster: c,
        // A member aggregates its own cluster; which one rotates with the round.
        aggregator: members[job.round % members.length]!.nodePubkey as Hex,
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

/** Whether cluster `c` of a round is audited: a keccak draw, so the aggregator cannot know. */
function audited(job: JobRecord, c: number, rate: number): boolean {
  const h = digestHex(
    hexToBytes(
      `${job.jobId}${job.round.toString(16).padStart(8, "0")}${c.toString(16).padStart(8, "0")}${
        job.specCid.length.toString(16).padStart(4, "0")
      }`,
    ),
  );
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
  const read = (cid: string) => ctx.store.get(cid);
  const means = [];
  let bytes = 0;
  for (const rec of clusters) {
    const key = clusterKey(job.jobId, job.round, rec.cluster);
    let mean: { delta: Float32Array; totalSamples: number } | undefined;
    let status = rec.status;
    if (rec.status === "submitted" || rec.status === "audited") {
      const agg = await ctx.store.get(rec.aggregateCid!);
      bytes += agg.length;
      mean = { delta: decodeCheckpoint(agg).weights, totalSamples: rec.totalSamples! };
      if (
        rec.status === "submitted" &&
        audited(job, rec.cluster, spec.aggregation.clusterAudit ?? 0.25)
      ) {
        const honest = await clusterMean(rec.members, read, length);
        const same = honest.totalSamples === mean.totalSamples &&
          digestHex(f32Bytes(honest.delta)) === digestHex(f32Bytes(mean.delta));
        status = same ? "audited" : "rejected";
        if (!same) {
          const { client, addresses } = ctx.chain;
          await sendContract(client, {
            address: addresses.verification,
            abi: abis.verification,
            functionName: "penaliseFor",
            args: [job.jobId, rec.aggregator, FAKE_AGGREGATE_BPS, SlashReason.FakeGradients, false],
          });
          mean = honest;
        }
      }
    } else if (rec.status === "open" && ctx.now() >= rec.deadline) {
      mean = await clusterMean(rec.members, read, length);
      status = "fallback";
    } else if (rec.status === "rejected" || rec.status === "fallback") {
      mean = await clusterMean(rec.members, read, length);
    }
    if (status !== rec.status) {
      await setLarge(ctx.kv.atomic().check(await getLarge(ctx.kv, key)), key, { ...rec, status })
        .commit();
    }
    if (!mean) return undefined;
    for (const m of rec.members) {
      bytes += (await ctx.kv.get<UpdateRecord>(updateKey(job.jobId, job.round, m.nodePubkey))).value
        ?.bytes ?? 0;
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

/** The open cluster task of `node`, if it aggregates one. */
export async function clusterTaskFor(
  ctx: Context,
  job: JobRecord,
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

/** POST /aggregate/cluster: a cluster aggregator's signed result. */
export async function receiveCluster(
  ctx: Context,
  body: Record<string, unknown>,
): Promise<[number, ClusterRecord]> {
  const sub: ClusterSubmission = {
    jobId: field.hex32(body, "jobId"),
    round: field.int(body, "round", 0, 100_000),
    cluster: field.int(body, "cluster", 0, 1_000_000),
    nodePubkey: field.hex32(body, "nodePubkey"),
    aggregateCid: field.string(body, "aggregateCid", { max: 200 }),
    totalSamples: field.number(body, "totalSamples", 0, 2 ** 52),
  };
  const signature = field.hex(body, "signature", 64);
  const job = (await getJob(ctx.kv, sub.jobId)).value;
  if (!job) throw new HttpError(404, "Cannot accept cluster: unknown job");
  const key = clusterKey(sub.jobId, sub.round, sub.cluster);
  const entry = await getLarge<ClusterRecord>(ctx.kv, key);
  const rec = entry.value;
  if (!rec || job.round !== sub.round) {
    throw new HttpError(404, "Cannot accept cluster: no such open cluster");
  }
  if (rec.aggregator !== sub.nodePubkey) {
    throw new HttpError(403, "Cannot accept cluster: node is not its aggregator");
  }
  const domain = arthaDomain(ctx.chain.chainId, ctx.chain.addresses.proofs);
  if (!verifyClusterSubmission(sub, signature, domain)) {
    throw new HttpError(401, "Cannot accept cluster: signature does not verify");
  }
  if (rec.status !== "open") {
    if (rec.aggregateCid === sub.aggregateCid) return [200, rec];
    throw new HttpError(409, `Cannot accept cluster: it is ${rec.status}`);
  }
  const total = rec.members.reduce((s, m) => s + m.samples, 0);
  if (sub.totalSamples !== total) {
    throw new HttpError(
      422,
      `Cannot accept cluster: totalSamples ${sub.totalSamples} is not the members' ${total}`,
    );
  }
  try {
    decodeCheckpoint(await ctx.store.get(sub.aggregateCid));
  } catch (e) {
    throw new HttpError(422, `Cannot accept cluster: ${(e as Error).message}`);
  }
  const next: ClusterRecord = {
    ...rec,
    status: "submitted",
    aggregateCid: sub.aggregateCid,
    totalSamples: total,
  };
  const res = await setLarge(ctx.kv.atomic().check(entry), key, next).commit();
  if (!res.ok) return receiveCluster(ctx, body);
  return [201, next];
}

/** Every cluster record of a round (for status and tests). */
export async function clustersOf(
  ctx: Context,
  jobId: string,
  round: number,
): Promise<ClusterRecord[]> {
  const out: ClusterRecord[] = [];
  for (const head of await listValues<{ parts: number }>(ctx.kv, ["cluster", jobId, round])) {
    void head;
  }
  for await (const e of ctx.kv.list({ prefix: ["cluster", jobId, round] })) {
    if (e.key.length === 4) out.push((await getLarge<ClusterRecord>(ctx.kv, e.key)).value!);
  }
  return out;
}
