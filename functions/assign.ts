/**
 * /assign — starts a job's training and hands out tasks.
 *
 * POST /assign {jobId, specCid, modelId?}: the coordinator reads the job from AIJobManager,
 * checks keccak256(spec) equals the escrowed paramsHash, picks bound, live nodes the job fits
 * (model-size planner against each node's capabilities), assigns them on chain and records the
 * job in KV. Idempotent: a job already started is returned as it is.
 *
 * GET /assign?node=<pubkey>: the node's current task: a cluster to aggregate
 * ({status:"cluster"}), a spot-checked round to recompute as a committee member
 * ({status:"validate"}), or its training task ({status:"task", ...}); {status:"wait"} while its
 * update for the current round is in, or {status:"idle"}.
 */
import type { Hex } from "viem";
import { abis, JobStatus } from "../lib/chain/contracts.ts";
import { assignNodes } from "../lib/chain/assign_nodes.ts";
import { ChainCallError } from "../lib/chain/_send.ts";
import { setTaskGroups } from "../lib/verify/challenge_chain.ts";
import { digestHex } from "../lib/digest.ts";
import { encodeJobSpec, type JobSpec, taskSeed } from "../lib/job_spec.ts";
import { fitsNode, planModel } from "../lib/planner.ts";
import { RdpAccountant } from "../lib/privacy/rdp_accountant.ts";
import { paramLayout } from "../kernel/params.ts";
import { type Context, contextFromEnv } from "./_context.ts";
import { clusterTaskFor } from "./_clusters.ts";
import type { ClusterTask } from "../lib/cluster_task.ts";
import { validationTaskFor } from "./_committee.ts";
import type { ValidationTask } from "../lib/verify/validation_task.ts";
import { field, handler, HttpError, json, readJson } from "./_http.ts";
import { loadSpec, loadWeights, slotOf, validationLoss } from "./_job.ts";
import { DEFAULT_PARTS } from "../lib/compress/partition.ts";
import {
  getJob,
  jobKey,
  type JobRecord,
  listJobs,
  listValues,
  nodeKey,
  type NodeRecord,
  NODES,
  setJob,
  updateKey,
} from "./_state.ts";

/** Most nodes assigned per transaction (keeps each assign well under the block gas limit). */
export const ASSIGN_BATCH = 100;

/** A node's task for one round. */
export interface Task {
  status: "task";
  jobId: Hex;
  round: number;
  specCid: string;
  globalCid: string;
  shard: { index: number; name: string; cid: string };
  seed: number;
  /** The node's slot in the job (task group index): the partition codec's part. */
  slot: number;
}

/** How much memory the plan of a spec needs, for the planner. */
export function planOf(spec: JobSpec) {
  return planModel(
    { params: paramLayout(spec.model).size },
    { batchSize: spec.batch.B * spec.batch.accumSteps, optimizer: "adamw" },
  );
}

/** Nodes (bound, live on chain, fitting the plan) in a stable order: most stake, then key. */
export async function eligibleNodes(
  ctx: Context,
  spec: JobSpec,
  exclude: Set<string> = new Set(),
): Promise<NodeRecord[]> {
  const plan = planOf(spec);
  const nodes = (await listValues<NodeRecord>(ctx.kv, NODES))
    .filter((n) => !exclude.has(n.nodePubkey))
    .filter((n) => fitsNode(plan, n.caps).fits);
  const { client, addresses } = ctx.chain;
  const live = await Promise.all(nodes.map((n) =>
    client.readContract({
      address: addresses.registry,
      abi: abis.registry,
      functionName: "isLive",
      args: [n.nodePubkey],
    }).then((ok) =>
      ok &&
      client.readContract({
        address: addresses.registry,
        abi: abis.registry,
        functionName: "isComputeEligible",
        args: [n.nodePubkey],
      })
    )
  ));
  return nodes.filter((_, i) => live[i]).sort((a, b) =>
    BigInt(b.stake) > BigInt(a.stake)
      ? 1
      : BigInt(b.stake) < BigInt(a.stake)
      ? -1
      : a.nodePubkey < b.nodePubkey
      ? -1
      : 1
  );
}

/** Starts a job: verifies the spec against the chain, assigns nodes, records it in KV. */
export async function startJob(
  ctx: Context,
  params: { jobId: Hex; specCid: string; modelId?: Hex },
): Promise<JobRecord> {
  const existing = await getJob(ctx.kv, params.jobId);
  if (existing.value) return existing.value;
  const { client, addresses } = ctx.chain;
  const job = await client.readContract({
    address: addresses.jobs,
    abi: abis.jobs,
    functionName: "getJob",
    args: [params.jobId],
  });
  if (job.status === JobStatus.None) throw new HttpError(404, "Cannot assign: unknown job");
  if (job.status !== JobStatus.Open && job.status !== JobStatus.Running) {
    throw new HttpError(409, `Cannot assign: job status is ${job.status}`);
  }
  let spec: JobSpec;
  try {
    spec = await loadSpec(ctx.store, params.specCid);
  } catch (e) {
    throw new HttpError(400, `Cannot assign: spec ${params.specCid}: ${(e as Error).message}`);
  }
  if (digestHex(encodeJobSpec(spec)) !== job.paramsHash) {
    throw new HttpError(409, "Cannot assign: spec does not hash to the job's paramsHash");
  }
  if (spec.rounds !== job.rounds) {
    throw new HttpError(409, "Cannot assign: rounds differ from chain");
  }
  if (spec.privacy) {
    // Refuse up front a job whose planned rounds would spend more than its privacy budget.
    const p = spec.privacy;
    const planned = new RdpAccountant({ delta: p.delta }).epsilonAfter(
      1,
      p.noiseMultiplier,
      spec.rounds,
    );
    if (planned > p.maxEpsilon) {
      throw new HttpError(
        409,
        `Cannot assign: ${spec.rounds} rounds at noise ${p.noiseMultiplier} spend epsilon ${
          planned.toFixed(2)
        } > budget ${p.maxEpsilon}`,
      );
    }
  }

  const candidates = await eligibleNodes(ctx, spec);
  const chosen = candidates.slice(0, job.nodesWanted).map((n) => n.nodePubkey);
  if (chosen.length === 0) {
    throw new HttpError(409, "Cannot assign: no bound, live node fits this job");
  }
  if (spec.compression?.codec === "partition") {
    // Each task group sends one part: with fewer groups than parts, some coordinates would not
    // move at all in a round. The job stays open (cancelJob refunds it) or waits for nodes.
    const r = spec.verification?.redundancy ?? 1;
    const groups = Math.ceil(chosen.length / r);
    const parts = spec.compression.parts ?? DEFAULT_PARTS;
    if (parts > groups) {
      throw new HttpError(
        409,
        `Cannot assign: compression.parts ${parts} exceeds the ${groups} task groups of ` +
          `${chosen.length} nodes at redundancy ${r}; use parts <= ${groups} or more nodes`,
      );
    }
  }
  const onChain = new Set(
    (await client.readContract({
      address: addresses.jobs,
      abi: abis.jobs,
      functionName: "nodesOf",
      args: [params.jobId],
    })).map((n) => n.toLowerCase()),
  );
  const todo = chosen.filter((n) => !onChain.has(n));
  for (let i = 0; i < todo.length; i += ASSIGN_BATCH) {
    await assignNodes(client, {
      addresses,
      jobId: params.jobId,
      nodes: todo.slice(i, i + ASSIGN_BATCH),
    });
  }
  // Task groups: with a verification policy, `redundancy` consecutive nodes share one task
  // (shard, seed, starting weights) and the chain learns who shares what, for redundancy
  // settlement and disputes; without one, nodes take shard i mod n as before.
  const r = spec.verification?.redundancy ?? 1;
  const shardOf = Object.fromEntries(
    chosen.map((n, i) => [n, Math.floor(i / r) % spec.shards.length]),
  );
  if (spec.verification) {
    const grouped = await Promise.all(chosen.map((n) =>
      client.readContract({
        address: addresses.verification,
        abi: abis.verification,
        functionName: "groupOf",
        args: [params.jobId, n],
      })
    ));
    const fresh = chosen.filter((_, i) => grouped[i] === 0);
    if (fresh.length > 0) {
      await setTaskGroups(client, {
        addresses,
        jobId: params.jobId,
        nodes: fresh,
        groups: fresh.map((n) => shardOf[n]! + 1),
      });
    }
  }
  const initial = await loadWeights(ctx.store, spec.initialWeights);
  const record: JobRecord = {
    jobId: params.jobId.toLowerCase() as Hex,
    specCid: params.specCid,
    owner: job.owner,
    rounds: spec.rounds,
    round: 0,
    status: "running",
    assigned: chosen,
    shardOf,
    globalCid: spec.initialWeights,
    roundOpenedAt: ctx.now(),
    initialValLoss: await validationLoss(ctx.store, spec, initial),
    metrics: [],
    modelId: params.modelId,
    reassigned: [],
  };
  const res = await setJob(
    ctx.kv.atomic().check({ key: jobKey(params.jobId), versionstamp: null }),
    record,
  ).commit();
  if (!res.ok) return (await getJob(ctx.kv, params.jobId)).value!;
  return record;
}

/** The task of `node` now, if any. */
export async function taskFor(
  ctx: Context,
  node: Hex,
): Promise<Task | ClusterTask | ValidationTask | { status: "wait" | "idle" }> {
  let waiting = false;
  for (const job of await listJobs(ctx.kv)) {
    if (!job.assigned.includes(node)) continue;
    // Aggregating its cluster comes first: the round cannot close without it.
    const cluster = job.status === "running" ? await clusterTaskFor(ctx, job, node) : undefined;
    if (cluster) return cluster;
    // Then validating a spot-checked round (its attestation window is short), even after the
    // job completed.
    const validate = await validationTaskFor(ctx, job, node);
    if (validate) return validate;
    if (job.status !== "running") continue;
    const done = await ctx.kv.get(updateKey(job.jobId, job.round, node));
    if (done.value) {
      waiting = true;
      continue;
    }
    const spec = await loadSpec(ctx.store, job.specCid);
    const index = job.shardOf[node]!;
    const shard = spec.shards[index]!;
    return {
      status: "task",
      jobId: job.jobId,
      round: job.round,
      specCid: job.specCid,
      globalCid: job.globalCid,
      shard: { index, name: shard.name, cid: shard.cid },
      seed: taskSeed(spec, index),
      slot: slotOf(job.assigned, spec, node),
    };
  }
  return { status: waiting ? "wait" : "idle" };
}

/** Creates the assign handler over a context. */
export function createAssign(ctx: Context) {
  return handler(async (req) => {
    if (req.method === "GET") {
      const node = new URL(req.url).searchParams.get("node")?.toLowerCase() ?? "";
      if (!/^0x[0-9a-f]{64}$/.test(node)) {
        throw new HttpError(400, 'Invalid query "node": expected 32-byte hex');
      }
      const rec = await ctx.kv.get<NodeRecord>(nodeKey(node));
      if (!rec.value) {
        throw new HttpError(404, "Cannot get task: node is not registered; POST /register first");
      }
      await ctx.kv.set(nodeKey(node), { ...rec.value, lastSeen: ctx.now() });
      return json(await taskFor(ctx, node as Hex));
    }
    if (req.method !== "POST") throw new HttpError(405, "Cannot assign: use GET or POST");
    const body = await readJson(req);
    const jobId = field.hex32(body, "jobId");
    const specCid = field.string(body, "specCid", { max: 200 });
    const modelId = body.modelId === undefined ? undefined : field.hex32(body, "modelId");
    try {
      return json(await startJob(ctx, { jobId, specCid, modelId }));
    } catch (e) {
      if (e instanceof ChainCallError) throw new HttpError(409, e.message, { cause: e });
      throw e;
    }
  });
}

export default {
  fetch: async (req: Request) => createAssign(await contextFromEnv())(req),
};
