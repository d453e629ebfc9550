/**
 * /aggregate — receives round updates and closes rounds.
 *
 * POST /aggregate/update: a signed round update (functions/_update_intake.ts).
 * POST /aggregate/cluster: a cluster aggregator's mean (functions/_clusters.ts).
 *
 * POST /aggregate {jobId?}: for each running job whose round may close (all updates in, 80%
 * quorum, or the deadline), aggregates with streaming FedAvg (order-independent, O(params)),
 * applies it (plain or DiLoCo outer Nesterov), stores the checkpoint in SVDB, closes the round on
 * chain, adds the checkpoint to ModelRegistry, and moves tasks of nodes that missed their
 * heartbeats to spare nodes. The set of updates a close uses is written before any side effect,
 * so a restart re-derives the same checkpoint and nothing is counted twice.
 */
import type { Hex } from "viem";
import { abis } from "../lib/chain/contracts.ts";
import { closeRound } from "../lib/chain/close_round.ts";
import { reassignNode } from "../lib/chain/assign_nodes.ts";
import { ChainCallError, sendContract } from "../lib/chain/_send.ts";
import { encodeCheckpoint } from "../lib/checkpoint.ts";
import { merkleRoot } from "../lib/merkle.ts";
import { f32Bytes } from "../lib/local_training.ts";
import { decodeUpdateBytes } from "../lib/update_envelope.ts";
import { decideRound } from "../lib/round_policy.ts";
import { StreamingFedAvg } from "../lib/strategy/streaming_fed_avg.ts";
import { OuterOptimizer } from "../lib/strategy/outer_optimizer.ts";
import { sqrtStaleness } from "../lib/strategy/fed_buff.ts";
import { applyLayerRules } from "../lib/strategy/layerwise.ts";
import { DpFedAvg } from "../lib/strategy/dp_fed_avg.ts";
import { robustStrategyFor } from "../lib/strategy/select.ts";
import { DEFAULT_PARTS, partitionSeed, rebalancePartitionMean } from "../lib/compress/partition.ts";
import { aggregatePartitioned } from "../lib/strategy/partitioned.ts";
import {
  BudgetExceededError,
  computeRdp,
  DEFAULT_ORDERS,
  RdpAccountant,
  rdpToEpsilon,
} from "../lib/privacy/rdp_accountant.ts";
import type { JobSpec } from "../lib/job_spec.ts";
import { paramLayout } from "../kernel/params.ts";
import { type Context, contextFromEnv } from "./_context.ts";
import { receiveUpdate } from "./_update_intake.ts";
import { challengeRound, checkChallenges } from "./_verification.ts";
import { arbitrateDisputes } from "./_disputes.ts";
import { settleCommittees } from "./_committee.ts";
import { clusteredDelta, isHierarchical, receiveCluster } from "./_clusters.ts";
import { field, handler, HttpError, json, readJson } from "./_http.ts";
import { deliveredSlot, loadSpec, loadWeights, slotOf, validationLoss } from "./_job.ts";
import { eligibleNodes } from "./assign.ts";
import { groupResults } from "../lib/verify/redundancy.ts";
import { resultHashOf } from "../lib/verify/recompute.ts";
import { reportCopycat, settleRedundancy } from "../lib/verify/challenge_chain.ts";
import {
  getJob,
  getLarge,
  type JobRecord,
  listJobs,
  listValues,
  roundUpdates,
  setJob,
  setLarge,
  updateKey,
  type UpdateRecord,
} from "./_state.ts";

const closingKey = (jobId: string, round: number): Deno.KvKey => ["closing", jobId, round];
/** The set of updates a round's close uses, fixed before any side effect. */
interface Closing {
  /** The updates combined (with redundancy: one per agreeing task group). */
  nodes: string[];
  /**
   * Nodes that delivered a good update, combined or not: a redundant copy is not missing and
   * keeps its task. Absent in closings written before this field existed.
   */
  delivered?: string[];
  reason: string;
}

/** A chain call that already happened (a restart repeating it) counts as done. */
async function once(call: () => Promise<unknown>, alreadyDone: string[]): Promise<void> {
  try {
    await call();
  } catch (e) {
    if (e instanceof ChainCallError && e.errorName && alreadyDone.includes(e.errorName)) return;
    throw e;
  }
}

export interface AggregateOutcome {
  jobId: Hex;
  round: number;
  status: "waiting" | "closed" | "extended" | "idle";
  reason: string;
  updates: number;
  missing: string[];
  valLoss?: number;
  checkpointCid?: string;
  /** Challenges and gradient samples issued after the close. */
  challenges?: number;
}

/** Tries to close the open round of one job. */
export async function aggregateJob(ctx: Context, jobId: Hex): Promise<AggregateOutcome> {
  const entry = await getJob(ctx.kv, jobId);
  const job = entry.value;
  if (!job) throw new HttpError(404, "Cannot aggregate: unknown job");
  const base = { jobId: job.jobId, round: job.round, updates: 0, missing: [] as string[] };
  if (job.status !== "running") return { ...base, status: "idle", reason: job.status };
  const spec = await loadSpec(ctx.store, job.specCid);
  await checkChallenges(ctx, job, spec);
  await arbitrateDisputes(ctx, job, spec);
  await settleCommittees(ctx, job);

  // The set of updates this close uses: fixed once, so a restart re-derives the same result.
  let closing = (await getLarge<Closing>(ctx.kv, closingKey(job.jobId, job.round))).value;
  if (!closing) {
    const received = await listValues<UpdateRecord>(ctx.kv, roundUpdates(job.jobId, job.round));
    const decision = decideRound(
      {
        assigned: job.assigned,
        received: received.map((u) => u.nodePubkey),
        openedAt: job.roundOpenedAt,
        now: ctx.now(),
      },
      {
        quorumBps: Math.round(spec.aggregation.quorum * 10_000),
        deadlineMs: spec.aggregation.deadlineMs,
        minUpdates: 1,
      },
    );
    if (!decision.close) {
      return {
        ...base,
        status: "waiting",
        reason: decision.reason,
        updates: decision.received,
        missing: decision.missing,
      };
    }
    if (!decision.ok) {
      // Nobody delivered before the deadline: hand silent nodes' tasks over and give the round
      // another deadline; no update is lost because none arrived.
      const moved = await reassignDropped(ctx, job, decision.missing as Hex[]);
      await setJob(ctx.kv.atomic().check(entry), { ...moved, roundOpenedAt: ctx.now() }).commit();
      return { ...base, status: "extended", reason: decision.reason, missing: decision.missing };
    }
    let nodes = received.map((u) => u.nodePubkey).filter((n) => job.assigned.includes(n)).sort();
    let delivered: string[] = nodes;
    if (spec.verification) {
      // Redundancy: a task's r identical updates count once; outliers do not count at all.
      const groups = groupResults(
        received.filter((u) => nodes.includes(u.nodePubkey)).map((u) => ({
          nodePubkey: u.nodePubkey,
          group: job.shardOf[u.nodePubkey]! + 1,
          resultHash: resultHashOf(u.lossDigest, u.gradientDigest, u.weightsDigest),
        })),
        groupSizes(job),
      );
      nodes = groups.flatMap((g) => g.counted ? [g.counted as Hex] : []).sort();
      delivered = groups.flatMap((g) => g.agreeing).sort();
    }
    closing = { nodes, delivered, reason: decision.reason };
    await setLarge(
      ctx.kv.atomic().check({ key: closingKey(job.jobId, job.round), versionstamp: null }),
      closingKey(job.jobId, job.round),
      closing,
    ).commit();
    closing = (await getLarge<Closing>(ctx.kv, closingKey(job.jobId, job.round))).value!;
  }

  const global = await loadWeights(ctx.store, job.globalCid);
  let bytes = 0;
  const read = async (node: string) => {
    const u = (await ctx.kv.get<UpdateRecord>(updateKey(job.jobId, job.round, node))).value!;
    bytes += u.bytes;
    const { delta } = decodeUpdateBytes(await ctx.store.get(u.updateCid), global.length);
    // FedBuff: an update trained tau rounds ago counts s(tau) = 1/sqrt(1+tau) as much.
    const tau = job.round - (u.baseRound ?? job.round);
    if (tau > 0) {
      const s = sqrtStaleness(tau);
      for (let i = 0; i < delta.length; i++) delta[i] = delta[i]! * s;
    }
    return {
      nodeId: node,
      delta,
      numSamples: u.samples,
      slot: u.slot ?? slotOf(job.assigned, spec, node),
    };
  };
  let delta: Float32Array;
  let privacy = job.privacy;
  if (spec.privacy || spec.robust) {
    // Robust and private strategies need every update at once (sorted, so any order agrees).
    const updates = [];
    for (const node of closing.nodes) updates.push(await read(node));
    if (spec.privacy) {
      const p = spec.privacy;
      const accountant = new RdpAccountant({ delta: p.delta, maxEpsilon: p.maxEpsilon });
      if (job.round > 0) accountant.spend(1, p.noiseMultiplier, job.round);
      try {
        delta = new DpFedAvg({
          clip: p.clip,
          noiseMultiplier: p.noiseMultiplier,
          seed: (spec.seed ^ job.round) >>> 0,
          accountant,
        }).aggregate(updates).delta;
      } catch (e) {
        if (e instanceof BudgetExceededError) {
          throw new HttpError(409, `Cannot aggregate: ${e.message}`);
        }
        throw e;
      }
      privacy = privacyReport(spec, job, closing.nodes, accountant.epsilon);
    } else if (spec.compression?.codec === "partition") {
      // Per part, over the nodes that sent it (a whole-vector rule would see mostly zeros).
      delta = aggregatePartitioned(updates, {
        seed: partitionSeed(spec.seed, job.round),
        parts: spec.compression.parts ?? DEFAULT_PARTS,
        strategyFor: (n) => robustStrategyFor(spec.robust!, n),
      }).delta;
    } else {
      delta = robustStrategyFor(spec.robust!, updates.length).aggregate(updates).delta;
    }
  } else if (isHierarchical(spec, closing.nodes.length)) {
    // Worker cluster aggregators sum the updates; the round waits until every cluster is in.
    const clustered = await clusteredDelta(ctx, job, spec, closing.nodes, global.length);
    if (!clustered) {
      return { ...base, status: "waiting", reason: "clusters", updates: closing.nodes.length };
    }
    delta = clustered.delta;
    bytes += clustered.bytes;
  } else {
    const acc = new StreamingFedAvg(global.length);
    for (const node of closing.nodes) acc.add(await read(node));
    delta = acc.finish().delta;
  }
  if (spec.compression?.codec === "partition" && !spec.asynchronous && !spec.robust) {
    // Each coordinate: the mean of the nodes whose part held it, whoever dropped out.
    const slots = [];
    for (const node of closing.nodes) {
      slots.push(await deliveredSlot(ctx.kv, job, spec, job.round, node));
    }
    rebalancePartitionMean(delta, {
      seed: partitionSeed(spec.seed, job.round),
      parts: spec.compression.parts ?? DEFAULT_PARTS,
      slots,
    });
  }
  if (spec.aggregation.layers) {
    const views = Object.fromEntries(
      paramLayout(spec.model).tensors.map((t) => [t.name, [t.offset, t.size] as const]),
    );
    applyLayerRules(delta, views, spec.aggregation.layers);
  }
  const weights = global.slice();
  let outerVelocityCid = job.outerVelocityCid;
  if (spec.aggregation.strategy === "diloco") {
    const outer = new OuterOptimizer(weights.length, {
      lr: spec.aggregation.outerLr,
      momentum: spec.aggregation.outerMomentum,
    });
    if (job.outerVelocityCid) {
      outer.load(await loadWeights(ctx.store, job.outerVelocityCid), job.round);
    }
    outer.step(weights, delta);
    outerVelocityCid = (await ctx.store.put(
      encodeCheckpoint(spec.model, outer.velocity, { kind: "outer-velocity" }),
    )).toString();
  } else {
    for (let i = 0; i < weights.length; i++) weights[i] = weights[i]! + delta[i]!;
  }
  const ckptBytes = encodeCheckpoint(spec.model, weights, {
    round: String(job.round),
    job: job.jobId,
  });
  const checkpointCid = (await ctx.store.put(ckptBytes)).toString();
  const updateBytes = bytes;
  bytes += ckptBytes.length;
  const weightsDigest = merkleRoot(f32Bytes(weights));
  const valLoss = await validationLoss(ctx.store, spec, weights);

  const { client, addresses } = ctx.chain;
  await once(
    () =>
      closeRound(client, {
        addresses,
        jobId: job.jobId,
        round: job.round,
        checkpointCid,
        weightsDigest,
      }),
    ["JobManager__WrongRound", "JobManager__WrongStatus"],
  );
  // Redundancy settles over the closed round: its commits are final now.
  if (spec.verification) await settleGroups(ctx, job);
  if (job.modelId) {
    const modelId = job.modelId;
    await once(
      () =>
        sendContract(client, {
          address: addresses.models,
          abi: abis.models,
          functionName: "addCheckpoint",
          args: [modelId, BigInt(job.round), checkpointCid, weightsDigest],
        }),
      ["ModelRegistry__StaleRound"],
    );
  }
  const delivered = closing.delivered ?? closing.nodes;
  const missing = job.assigned.filter((n) => !delivered.includes(n));
  const next = job.round + 1 < job.rounds ? await reassignDropped(ctx, job, missing) : job;
  const updated: JobRecord = {
    ...next,
    round: job.round + 1,
    status: job.round + 1 === job.rounds ? "completed" : "running",
    globalCid: checkpointCid,
    roundOpenedAt: ctx.now(),
    outerVelocityCid,
    privacy,
    metrics: [...job.metrics, {
      round: job.round,
      valLoss,
      updates: closing.nodes.length,
      missing,
      reason: closing.reason,
      bytes,
      updateBytes,
      checkpointCid,
      closedAt: ctx.now(),
    }],
  };
  const res = await setJob(ctx.kv.atomic().check(entry), updated).commit();
  if (!res.ok) return { ...base, status: "idle", reason: "closed by another aggregator" };
  // Challenges come after the close: nodes committed before the randomness existed.
  const challenged = await challengeRound(ctx, job, spec, closing.nodes as Hex[]);
  return {
    challenges: challenged.length,
    ...base,
    status: "closed",
    reason: closing.reason,
    updates: closing.nodes.length,
    missing,
    valLoss,
    checkpointCid,
  };
}

/** The size of each task group (group = shard + 1): every node ever given the shard's task. */
function groupSizes(job: JobRecord): (group: number) => number {
  const sizes = new Map<number, number>();
  for (const shard of Object.values(job.shardOf)) {
    sizes.set(shard + 1, (sizes.get(shard + 1) ?? 0) + 1);
  }
  return (group) => sizes.get(group) ?? 0;
}

/**
 * Settles every task group of the round on chain (VerificationManager.settleRedundancy:
 * outliers lose 50%, agreeing members earn a passed proof), then reports outliers whose result is
 * another group's majority as copycats (100% and deactivation). Idempotent: settled groups and
 * groups without a majority are skipped.
 */
async function settleGroups(ctx: Context, job: JobRecord): Promise<void> {
  const { client, addresses } = ctx.chain;
  const received = await listValues<UpdateRecord>(ctx.kv, roundUpdates(job.jobId, job.round));
  const results = received.map((u) => ({
    nodePubkey: u.nodePubkey,
    group: job.shardOf[u.nodePubkey]! + 1,
    resultHash: resultHashOf(u.lossDigest, u.gradientDigest, u.weightsDigest),
  }));
  const groups = groupResults(results, groupSizes(job));
  for (const g of groups) {
    if (!g.consensus) continue;
    await once(
      () =>
        settleRedundancy(client, { addresses, jobId: job.jobId, round: job.round, group: g.group }),
      ["Verification__AlreadySettled", "Verification__NoConsensus"],
    );
  }
  for (const g of groups) {
    for (const copier of g.outliers) {
      const mine = results.find((r) => r.nodePubkey === copier)!.resultHash;
      const original = results.find((r) => r.group !== g.group && r.resultHash === mine);
      if (!original) continue;
      await once(
        () =>
          reportCopycat(client, {
            addresses,
            jobId: job.jobId,
            round: job.round,
            copier: copier as Hex,
            original: original.nodePubkey as Hex,
          }),
        ["Verification__NotCopycat"],
      );
    }
  }
}

/**
 * The privacy spent after this round: the job's epsilon, and each data owner's (shard's), which
 * counts only the rounds its data was trained on.
 */
function privacyReport(
  spec: JobSpec,
  job: JobRecord,
  nodes: string[],
  epsilon: number,
): JobRecord["privacy"] {
  const p = spec.privacy!;
  const rounds = [...(job.privacy?.shardRounds ?? spec.shards.map(() => 0))];
  for (const shard of new Set(nodes.map((n) => job.shardOf[n]!))) rounds[shard]! += 1;
  const perShard = rounds.map((r) =>
    r === 0
      ? 0
      : rdpToEpsilon(DEFAULT_ORDERS, computeRdp(1, p.noiseMultiplier, r, DEFAULT_ORDERS), p.delta)
        .epsilon
  );
  return {
    epsilon,
    delta: p.delta,
    maxEpsilon: p.maxEpsilon,
    shardRounds: rounds,
    shardEpsilon: perShard,
  };
}

/** Moves tasks of assigned nodes that are no longer live on chain to spare eligible nodes. */
async function reassignDropped(ctx: Context, job: JobRecord, missing: Hex[]): Promise<JobRecord> {
  if (missing.length === 0) return job;
  const { client, addresses } = ctx.chain;
  const spec = await loadSpec(ctx.store, job.specCid);
  const dead: Hex[] = [];
  for (const n of missing) {
    const live = await client.readContract({
      address: addresses.registry,
      abi: abis.registry,
      functionName: "isLive",
      args: [n],
    });
    if (!live) dead.push(n);
  }
  if (dead.length === 0) return job;
  const used = new Set<string>([...job.assigned, ...job.reassigned.map((r) => r.from)]);
  const onChainNodes = await client.readContract({
    address: addresses.jobs,
    abi: abis.jobs,
    functionName: "nodesOf",
    args: [job.jobId],
  });
  for (const n of onChainNodes) used.add(n.toLowerCase());
  const spares = (await eligibleNodes(ctx, spec, used)).map((n) => n.nodePubkey);
  const assigned = [...job.assigned];
  const shardOf = { ...job.shardOf };
  const reassigned = [...job.reassigned];
  for (const from of dead) {
    // A restart after this reassignment landed on chain but before the KV write: adopt the
    // chain's replacement instead of reassigning again (which reverts, NotAssigned).
    let to = await replacementOnChain(ctx, job.jobId, from);
    if (!to) {
      to = spares.shift();
      if (!to) break;
      await reassignNode(client, { addresses, jobId: job.jobId, fromNode: from, toNode: to });
    }
    assigned[assigned.indexOf(from)] = to;
    shardOf[to] = shardOf[from]!;
    reassigned.push({ round: job.round, from, to });
  }
  return { ...job, assigned, shardOf, reassigned };
}

/** The node that took over `from`'s task on chain, when `from` no longer holds it. */
async function replacementOnChain(ctx: Context, jobId: Hex, from: Hex): Promise<Hex | undefined> {
  const { client, addresses } = ctx.chain;
  const holds = await client.readContract({
    address: addresses.jobs,
    abi: abis.jobs,
    functionName: "isAssigned",
    args: [jobId, from],
  });
  if (holds) return undefined;
  const moved = await client.getContractEvents({
    address: addresses.jobs,
    abi: abis.jobs,
    eventName: "TaskReassigned",
    args: { jobId, fromNode: from },
    fromBlock: 0n,
  });
  return moved.at(-1)?.args.toNode?.toLowerCase() as Hex | undefined;
}

/** Runs aggregateJob over every running job (what the cron calls). */
export async function aggregateAll(ctx: Context): Promise<AggregateOutcome[]> {
  const out: AggregateOutcome[] = [];
  for (const job of await listJobs(ctx.kv)) {
    if (job.status === "running") out.push(await aggregateJob(ctx, job.jobId));
    // Challenges and disputes of a job's last rounds still run out after it completes.
    else {
      const spec = await loadSpec(ctx.store, job.specCid);
      await checkChallenges(ctx, job, spec);
      await arbitrateDisputes(ctx, job, spec);
      await settleCommittees(ctx, job);
    }
  }
  return out;
}

/** Creates the aggregate handler over a context. */
export function createAggregate(ctx: Context) {
  return handler(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot aggregate: use POST");
    const path = new URL(req.url).pathname;
    if (path.endsWith("/cluster")) {
      const [status, record] = await receiveCluster(ctx, await readJson(req));
      return json(record, status);
    }
    if (path.endsWith("/update")) {
      const [status, record] = await receiveUpdate(ctx, await readJson(req));
      return json(record, status);
    }
    const body = req.headers.get("content-length") === "0" || !req.body ? {} : await readJson(req);
    if (body.jobId !== undefined) {
      return json([await aggregateJob(ctx, field.hex32(body, "jobId"))]);
    }
    return json(await aggregateAll(ctx));
  });
}

export default {
  fetch: async (req: Request) => createAggregate(await contextFromEnv())(req),
};
