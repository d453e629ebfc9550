/**
 * The coordinator as the arbiter of disputes (contracts/DisputeGame.sol). A dispute without a
 * group majority (a redundancy-2 task group) bisects down to one step and ends Unresolved; the
 * arbiter recomputes the disputed task's round from the round's starting checkpoint with the
 * deterministic kernel and states the right s_hi: each side whose s_hi differs loses 50% (both,
 * when they agreed on a wrong s_lo). One a party's missed move window made Unresolved
 * (`byResult`) is judged by the round's right committed result instead: lateness alone costs
 * nothing.
 * Each decision is kept in KV, so a later aggregate call does not recompute or send it again.
 */
import type { Hex } from "viem";
import { RESCAN_BLOCKS, rescanFrom } from "../chain/log_ranges.ts";
import { once, revertedWith } from "./once.ts";
import { type JobSpec, taskSeed, taskShard } from "../job/job_spec.ts";
import { roundTask } from "../round/round_task.ts";
import { UNCHECKED_DOMAIN } from "../crypto/domain.ts";
import { type Recomputed, recomputeRound } from "../verify/recompute.ts";
import { reproducible, roundEncoder } from "../verify/validation_task.ts";
import {
  arbitrateDispute,
  type DisputeInfo,
  DisputePhase,
  expireDispute,
  timeoutDispute,
} from "../verify/dispute_chain.ts";
import { getDisputeOpenings } from "../chain/get_dispute_openings.ts";
import { readDispute } from "../chain/read_dispute.ts";
import type { Context } from "./context.ts";
import { deliveredSlot, loadWeights, processTrainer } from "./job.ts";
import { type JobRecord, scanStart } from "./state.ts";

/** What the coordinator did about one unresolved dispute. */
export interface ArbitrationRecord {
  disputeId: string;
  jobId: Hex;
  round: number;
  /** The disputed step and the digest the arbiter stated for it. */
  hi: number;
  digest?: Hex;
  /** "closed": settled or expired by someone else first; "skipped": not ours to decide. */
  status: "arbitrated" | "closed" | "skipped";
  reason?: string;
}

const arbitrationKey = (jobId: string, id: string): Deno.KvKey => [
  "arbitration",
  jobId.toLowerCase(),
  id,
];

/** Arbitrates every unresolved dispute of the job not decided yet; returns what it decided. */
export async function arbitrateDisputes(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
): Promise<ArbitrationRecord[]> {
  const { client, addresses } = ctx.chain;
  if (!spec.verification || !addresses.disputes) return [];
  const unresolved = (await liveDisputes(ctx, job))
    .filter((d) => d.phase === DisputePhase.Unresolved);
  if (unresolved.length === 0) return [];
  const now = (await client.getBlock()).timestamp;
  const out: ArbitrationRecord[] = [];
  for (const d of unresolved) {
    const key = arbitrationKey(job.jobId, d.disputeId.toString());
    if ((await ctx.kv.get(key)).value) continue;
    if (now > d.deadline) continue; // too late: it expires, nobody is slashed
    const right = await rightDigest(ctx, job, spec, d);
    if (!right) continue; // the round's starting checkpoint is not recorded yet
    const rec: ArbitrationRecord = {
      disputeId: d.disputeId.toString(),
      jobId: job.jobId,
      round: d.round,
      hi: d.hi,
      ...right,
      status: "skipped",
    };
    if (right.digest) rec.status = await arbitrate(ctx, d.disputeId, right.digest);
    await ctx.kv.set(key, rec);
    out.push(rec);
  }
  return out;
}

/**
 * Ends the job's disputes whose window passed: a missed move goes to the contract's rule (the
 * group's majority, else the arbiter), an unresolved one nobody arbitrated in time expires. The job's settlement waits for every open dispute, and anybody may
 * end these, so a party that goes silent cannot hold the payout of everyone else. Returns how
 * many it ended.
 */
export async function endStaleDisputes(ctx: Context, job: JobRecord, spec: JobSpec) {
  const { client, addresses } = ctx.chain;
  if (!spec.verification || !addresses.disputes) return 0;
  const open = await liveDisputes(ctx, job);
  if (open.length === 0) return 0;
  const now = (await client.getBlock()).timestamp;
  let ended = 0;
  for (const d of open) {
    if (now <= d.deadline) continue;
    const end = d.phase === DisputePhase.Unresolved ? expireDispute : timeoutDispute;
    // Ended by someone else since it was read: the phase moved on.
    await once(() => end(client, { addresses, disputeId: d.disputeId }), ["Dispute__WrongPhase"]);
    ended++;
  }
  return ended;
}

/** Where the scan for a job's opened disputes goes on: the next block to read. */
const disputeScanKey = (jobId: string): Deno.KvKey => ["dispute_scan", jobId.toLowerCase()];
/** A dispute of the job found opened and not seen settled: the block it was opened in. */
const liveDisputeKey = (jobId: string, id: string): Deno.KvKey => [
  "dispute_live",
  jobId.toLowerCase(),
  id,
];

/**
 * The job's disputes not settled, as the chain holds them now. Openings are read from where the
 * last scan stopped and kept in KV until their dispute has been settled for longer than the
 * rescan margin (a reorg could undo a settlement, not older ones): found auditing POST /aggregate,
 * which anyone may call, that every call read the job's DisputeOpened logs from its start block
 * twice (a query per 2,000 blocks) and every dispute ever opened, so a caller in a loop made the
 * coordinator hammer its RPC endpoint with work that grew with the job's age. Now a call reads the
 * blocks since the last one and the disputes still live. One key a dispute, so a job with many
 * disputes never outgrows a KV value; a crash before the cursor moves reads the same openings
 * again, which sets the same keys.
 */
async function liveDisputes(ctx: Context, job: JobRecord): Promise<DisputeInfo[]> {
  const { client, addresses } = ctx.chain;
  const cursor = disputeScanKey(job.jobId);
  const fromBlock = (await ctx.kv.get<bigint>(cursor)).value ?? scanStart(job);
  const toBlock = await client.getBlockNumber({ cacheTime: 0 });
  if (toBlock >= fromBlock) {
    const jobId = job.jobId;
    for (const o of await getDisputeOpenings(client, { addresses, jobId, fromBlock, toBlock })) {
      const key = liveDisputeKey(jobId, o.disputeId.toString());
      const entry: LiveDispute = { openedIn: o.openedIn };
      // Never over an entry already kept: its settlement's block would be lost.
      await ctx.kv.atomic().check({ key, versionstamp: null }).set(key, entry).commit();
    }
    await ctx.kv.set(cursor, rescanFrom(toBlock, scanStart(job)));
  }
  const live: DisputeInfo[] = [];
  const prefix = ["dispute_live", job.jobId.toLowerCase()];
  for await (const e of ctx.kv.list<LiveDispute>({ prefix })) {
    const disputeId = BigInt(e.key[2] as string);
    const d = await readDispute(client, { addresses, disputeId, openedIn: e.value.openedIn });
    // Ids are global: an opening a reorg took away can leave its id to another job's dispute, or
    // to none (found reviewing the index). Neither is this job's to judge or end.
    if (d.phase === DisputePhase.None || d.jobId.toLowerCase() !== job.jobId.toLowerCase()) {
      await ctx.kv.delete(e.key);
    } else if (d.phase !== DisputePhase.Settled) {
      if (e.value.settledAt !== undefined) await ctx.kv.set(e.key, { openedIn: e.value.openedIn });
      live.push(d);
    } else if (e.value.settledAt === undefined) {
      await ctx.kv.set(e.key, { ...e.value, settledAt: toBlock });
    } else if (toBlock - e.value.settledAt > RESCAN_BLOCKS) {
      // Kept past the rescan margin: a reorg that undid the settlement would make it live again
      // with its opening out of the scan's reach (found reviewing the index).
      await ctx.kv.delete(e.key);
    }
  }
  return live;
}

/** A dispute the index keeps: where it opened, and where it was first seen settled. */
interface LiveDispute {
  openedIn: bigint;
  settledAt?: bigint;
}

/**
 * What the arbiter states for `d`, recomputed from the round's starting checkpoint with the same
 * shard and seed as the two parties (one task group shares one task): s_hi, or for a dispute a
 * missed window sent here (`byResult`), the round's committed result. s_hi is stated even when
 * the recomputed s_lo is not the one both sides agreed on: then both went wrong by step lo, and a
 * digest neither s_hi matches makes both lose (DisputeGame.arbitrate). Found in the verification
 * audit: such disputes were skipped, so a colluding pair agreeing on a wrong s_lo let its dispute
 * expire unpunished.
 */
async function rightDigest(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  d: DisputeInfo,
): Promise<{ digest?: Hex; reason?: string } | undefined> {
  const task = job.taskOf[d.defender.toLowerCase()] ?? job.taskOf[d.challenger.toLowerCase()];
  if (task === undefined) return { reason: "parties hold no task of this job" };
  const startCid = d.round === 0 ? spec.initialWeights : job.metrics[d.round - 1]?.checkpointCid;
  if (!startCid) return undefined;
  // Only a codec without error feedback lets a round's result be recomputed (such a codec's
  // update depends on the node's history): other disputes a missed window sent here expire. An
  // asynchronous job's can: its disputes start from the anchored checkpoint as any other's
  // (found reviewing this: they were let expire too).
  if (d.byResult && !reproducible({ compression: spec.compression })) {
    return { reason: "the job's updates cannot be recomputed, so neither can its result" };
  }
  // The result is over the encoded update; step digests are not (and a slot a partition codec
  // refuses must not stop a bisected dispute's verdict).
  const slot = d.byResult ? await deliveredSlot(ctx.kv, job, spec, d.round, d.defender) : -1;
  if (d.byResult && slot < 0 && spec.compression) {
    return { reason: "the disputed task's slot is unknown, so its encoded result is too" };
  }
  const { stepDigests, resultHash } = await recomputed(ctx, job, spec, {
    round: d.round,
    task,
    slot,
    startCid,
  });
  if (stepDigests.length !== d.steps + 1) {
    return { reason: `the task has ${stepDigests.length - 1} steps, the dispute ${d.steps}` };
  }
  // The chain anchors s_0 after round 0 and checked both sides' against it: a recomputation that
  // starts elsewhere is this arbiter's error (its checkpoint record drifted from the chain), and
  // stating its s_hi would make an honest party lose (found reviewing the both-lose verdicts).
  // In round 0 nothing is anchored: the start is the challenger's claim, which the recomputed s_0
  // judges (found reviewing this: compared as if anchored, a made-up start was skipped and the
  // dispute expired with the cheat unslashed).
  if (d.anchored && stepDigests[0] !== d.start) {
    return { reason: `recomputed s_0 is not the chain's anchored start ${d.start}` };
  }
  if (d.byResult) return { digest: resultHash };
  // hi == 0: the parties disagree on the round's start itself (round 0), nothing was agreed.
  const reason = d.hi > 0 && stepDigests[d.lo] !== d.agreed
    ? `recomputed s_${d.lo} is not the agreed ${d.agreed}: both sides were wrong by then`
    : undefined;
  return { digest: stepDigests[d.hi]!, ...(reason ? { reason } : {}) };
}

/** Most recomputed rounds kept: a dispute's parties share a task, so one per (job, round, task). */
const RECOMPUTED_KEPT = 8;
const kept = new Map<string, Promise<RecomputedRound>>();

/** What the arbiter keeps of a recomputed round: s_0..s_N and the committed result. */
type RecomputedRound = Pick<Recomputed, "stepDigests" | "resultHash">;

/**
 * A task's round, recomputed once per (job, spec, round, task, start): found in the verification
 * audit, every dispute cost a full-round recompute, so disputes opened over one task made the
 * arbiter redo the same round again and again.
 */
function recomputed(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  at: { round: number; task: number; slot: number; startCid: string },
): Promise<RecomputedRound> {
  const key = [job.jobId.toLowerCase(), job.specCid, at.round, at.task, at.slot, at.startCid]
    .join(":");
  const before = kept.get(key);
  if (before) return before;
  const round = (async () => {
    const { stepDigests, resultHash } = await recomputeRound(
      processTrainer(),
      await loadWeights(ctx.store, at.startCid),
      roundTask(
        spec,
        { jobId: job.jobId, round: at.round, seed: taskSeed(spec, at.task) },
        UNCHECKED_DOMAIN,
        await ctx.store.get(spec.shards[taskShard(spec, at.task)]!.cid),
      ),
      { encode: at.slot >= 0 ? roundEncoder(spec, at.round, at.slot) : undefined },
    );
    return { stepDigests, resultHash };
  })();
  kept.set(key, round);
  round.catch(() => kept.delete(key)); // a failed read is tried again next time
  for (const old of kept.keys()) {
    if (kept.size <= RECOMPUTED_KEPT) break;
    kept.delete(old);
  }
  return round;
}

async function arbitrate(
  ctx: Context,
  disputeId: bigint,
  digest: Hex,
): Promise<ArbitrationRecord["status"]> {
  const { client, addresses } = ctx.chain;
  try {
    await arbitrateDispute(client, { addresses, disputeId, digest });
    return "arbitrated";
  } catch (e) {
    // Arbitrated by another coordinator, or expired, since it was read.
    const closed = ["Dispute__WrongPhase", "Dispute__WindowClosed"];
    if (revertedWith(e, closed)) return "closed";
    throw e;
  }
}
