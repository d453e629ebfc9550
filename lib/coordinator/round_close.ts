/**
 * A round's close, as a list of named steps: fix the closing set -> read and combine the
 * updates through the job's combine plan -> apply -> store the checkpoint -> close on chain ->
 * settle redundancy -> add the checkpoint to the model -> advance the job (moving dropped
 * nodes' tasks to spares) -> challenge. The closing set is written before any side effect and
 * every chain step tolerates "already done", so a restart re-derives the same checkpoint and
 * nothing is counted twice. A round closes once per process (callers racing for it share the
 * one close), and a racer that finds the round closed answers the close's outcome.
 */
import type { Hex } from "viem";
import { addCheckpoint } from "../chain/add_checkpoint.ts";
import { closeRound, reportAccuracy } from "../chain/close_round.ts";
import { JobStatus } from "../chain/contracts.ts";
import { readJob } from "../chain/read_job.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { paramLayout } from "../../kernel/params.ts";
import type { RoundDecision } from "../job/round_policy.ts";
import {
  challengeRound,
  type PendingChallenges,
  pendingChallengesKey,
  settleOwed,
} from "./challenges.ts";
import { type Closing, drawnFrom, fixClosingSet } from "./closing.ts";
import type { Context } from "./context.ts";
import { improvementBps } from "./finalize.ts";
import { followUpVerification } from "./follow_up.ts";
import { loadSpec, loadWeights } from "./job.ts";
import { once, revertedWith } from "./once.ts";
import { type NodeMove, reassignDropped } from "./reassign.ts";
import { releaseClosedRound } from "./release_updates.ts";
import { settleGroups } from "./redundancy.ts";
import { reject, RejectedError, type Rejection, rejectionOf } from "./result.ts";
import { ChainCallError } from "../chain/send_contract.ts";
import { rpcUnavailable } from "../chain/rpc_unavailable.ts";
import { applyDelta, storeCheckpoint, type StoredCheckpoint } from "./round_apply.ts";
import { type Combined, combineUpdates } from "./round_combine.ts";
import { fixSecureClosingSet } from "./secure_round.ts";
import { singleFlight } from "./single_flight.ts";
import { contentId } from "./large_value.ts";
import {
  commitLarge,
  getJob,
  getLarge,
  type JobHead,
  type JobRecord,
  listLiveJobHeads,
  listValues,
  missingKey,
  moveNode,
  type RoundMetric,
  setJob,
  withAssignment,
} from "./state.ts";

/** What one aggregate call did to a job's open round. */
export interface AggregateOutcome {
  ok: true;
  jobId: Hex;
  round: number;
  /** "failed": an error stopped this job's close (aggregateAll only; `reason` says what). */
  status: "waiting" | "closed" | "extended" | "idle" | "failed";
  reason: string;
  updates: number;
  missing: string[];
  valLoss?: number;
  checkpointCid?: string;
  /** Challenges and gradient samples issued after the close. */
  challenges?: number;
}

/** The job's head as read: its versionstamp guards the write. */
type JobEntry = { key: Deno.KvKey; value: JobHead | null; versionstamp: string | null };
type Base = Omit<AggregateOutcome, "status" | "reason">;

/** Tries to close the open round of one job. */
export async function aggregateJob(
  ctx: Context,
  jobId: Hex,
): Promise<AggregateOutcome | Rejection> {
  const entry = await getJob(ctx.kv, jobId);
  const head = entry.value;
  if (!head) return reject(404, "UNKNOWN_JOB", "Cannot aggregate: unknown job");
  const base: Base = { ok: true, jobId: head.jobId, round: head.round, updates: 0, missing: [] };
  if (head.status !== "running") return { ...base, status: "idle", reason: head.status };
  // /aggregate needs no auth: racers share the one run instead of each combining every update.
  const run = () => aggregateRound(ctx, { ...entry, value: head }, base);
  return await singleFlight(ctx, `${head.jobId}:${head.round}`, run);
}

/** The steps of {@link aggregateJob} over the running job's head as read. */
async function aggregateRound(
  ctx: Context,
  entry: JobEntry & { value: JobHead },
  base: Base,
): Promise<AggregateOutcome | Rejection> {
  const job = await withAssignment(ctx.kv, entry.value, entry.versionstamp);
  const spec = await loadSpec(ctx.store, job.specCid);
  await followUpVerification(ctx, job, spec);
  // Secure aggregation: the closing set is the finished SecAgg+ session's included nodes.
  const step = spec.secureAggregation
    ? await fixSecureClosingSet(ctx, job, spec)
    : await fixClosingSet(ctx, job, spec);
  try {
    if (!step.fixed) return await notClosing(ctx, entry, job, step.decision, base);
    return await closeWith(ctx, entry, job, spec, step.closing, base);
  } catch (e) {
    const abandoned = e instanceof JobAbandonedError || await abandonedOnChain(ctx, job, e);
    if (abandoned) return await endAbandoned(ctx, entry, base);
    return rejectionOf(e);
  }
}

/** The close found the job abandoned on chain with its round open (see abandonedOnChain). */
class JobAbandonedError extends Error {
  constructor(jobId: Hex, round: number) {
    super(`job ${jobId} was abandoned on chain with round ${round} open`);
    this.name = "JobAbandonedError";
  }
}

/**
 * Whether `e` is a revert because the job's owner abandoned it (AIJobManager.abandonJob, after
 * this coordinator was silent for its stall window): the job is no longer Running on chain and
 * its open round there is still this one, so no close of ours ended it.
 */
async function abandonedOnChain(ctx: Context, job: JobRecord, e: unknown): Promise<boolean> {
  if (!revertedWith(e, ["JobManager__WrongStatus"])) return false;
  const { client, addresses } = ctx.chain;
  const chain = await readJob(client, { addresses, jobId: job.jobId });
  return chain.status !== JobStatus.Running && chain.currentRound === job.round;
}

/**
 * KV follows the chain: the job is completed at the rounds that closed, so finalize settles it
 * (the chain's cut terms) and exports the last closed checkpoint. The open round's updates are
 * not applied: the chain never closed it.
 */
async function endAbandoned(
  ctx: Context,
  entry: JobEntry,
  base: Base,
): Promise<AggregateOutcome> {
  const head = entry.value!;
  await setJob(ctx.kv.atomic().check(entry), { ...head, status: "completed" }).commit();
  return { ...base, status: "idle", reason: "abandoned by its owner on chain" };
}

/**
 * The round stays open: still waiting, or nobody delivered before the deadline: silent nodes'
 * tasks are handed over and the round gets another deadline (no update is lost: none arrived).
 */
async function notClosing(
  ctx: Context,
  entry: JobEntry,
  job: JobRecord,
  decision: RoundDecision,
  base: Base,
): Promise<AggregateOutcome> {
  const { reason, missing } = decision;
  if (!decision.close) {
    return { ...base, status: "waiting", reason, updates: decision.received, missing };
  }
  const moved = await reassignDropped(ctx, job, missing as Hex[]);
  const op = setJob(ctx.kv.atomic().check(entry), { ...moved.job, roundOpenedAt: ctx.now() });
  await withMoves(op, moved.job, moved.moves).commit();
  return { ...base, status: "extended", reason, missing };
}

/** The steps after the closing set is fixed. */
async function closeWith(
  ctx: Context,
  entry: JobEntry,
  job: JobRecord,
  spec: JobSpec,
  closing: Closing,
  base: Base,
): Promise<AggregateOutcome> {
  // Closed since the head was read (by another process, or a run that just ended): no rework.
  const before = await closedOutcome(ctx, job, base);
  if (before) return before;
  // No update counts when every task group split without a majority (a faker paired with an
  // honest node): the round closes on the weights it opened with, and its members are challenged
  // (challenges.ts). Combining nothing threw at every close, and the job stood still until its
  // owner abandoned it (found in the job owner audit).
  const length = paramLayout(spec.model).size;
  const combined = closing.nodes.length === 0
    ? { delta: new Float32Array(length), bytes: 0, privacy: job.privacy }
    : await combineUpdates(ctx, job, spec, closing.nodes, length);
  if (!combined) {
    return { ...base, status: "waiting", reason: "clusters", updates: closing.nodes.length };
  }
  // Only once the round closes: a waiting round's (unauthenticated) POST /aggregate reads no
  // model bytes (found in the hierarchical audit).
  const global = await loadWeights(ctx.store, job.globalCid);
  const applied = closing.nodes.length === 0
    ? { weights: global, outerVelocityCid: job.outerVelocityCid }
    : await applyDelta(ctx, job, spec, global, combined.delta);
  const ckpt = await storeCheckpoint(ctx, job, spec, applied.weights);
  await reportImprovement(ctx, job, ckpt);
  await closeOnChain(ctx, job, ckpt);
  // Redundancy settles over the closed round: its commits are final now.
  if (spec.verification) await settleGroups(ctx, job);
  await addToModel(ctx, job, ckpt);
  const advanced = await advanceJob(ctx, entry, job, { closing, combined, ckpt, ...applied });
  if (!advanced) {
    // Another process closed the round first: its outcome is the answer.
    const won = await closedOutcome(ctx, job, base);
    return won ?? { ...base, status: "idle", reason: "job changed during the close" };
  }
  // Challenges come after the close: nodes committed before the randomness existed.
  const challenged = await challengeRound(ctx, job, spec, drawnFrom(closing) as Hex[]);
  await settleOwed(ctx, job.jobId, job.round);
  return outcomeOf(base, advanced.metric, advanced.missing, challenged.length);
}

/** What a close answers: the round's metric as recorded, its missing nodes, its challenges. */
function outcomeOf(
  base: Base,
  m: RoundMetric,
  missing: string[],
  challenges: number,
): AggregateOutcome {
  const { reason, updates, valLoss, checkpointCid } = m;
  return {
    challenges,
    ...base,
    status: "closed",
    reason,
    updates,
    missing,
    valLoss,
    checkpointCid,
  };
}

/** The outcome of the job's open round when KV shows it closed already, else undefined. */
async function closedOutcome(
  ctx: Context,
  job: JobRecord,
  base: Base,
): Promise<AggregateOutcome | undefined> {
  const head = (await getJob(ctx.kv, job.jobId)).value;
  const metric = head?.metrics.find((m) => m.round === job.round);
  if (!metric) return undefined;
  const listed = metric.missingId === undefined
    ? undefined
    : [...missingKey(job.jobId, job.round), metric.missingId];
  const missing = metric.missing ??
    (listed && (await getLarge<string[]>(ctx.kv, listed)).value) ?? [];
  // The challenges the close issued, as challenges.ts records them (["challenge", jobId, id]).
  const issued = await listValues<{ round: number }>(ctx.kv, ["challenge", job.jobId]);
  return outcomeOf(base, metric, missing, issued.filter((c) => c.round === job.round).length);
}

/**
 * Reports the job's improvement before its last close completes it: once the settlement delay is
 * over anyone may settle, and a settlement before the report paid no accuracy bonus (the job's
 * owner, who gets the unpaid pool back, could settle first). Finalize reports it again. Before
 * an earlier close it is reported when it crosses the target (either way): found in the second
 * contracts audit, a job abandoned after rounds that met its target settled with nothing
 * reported, and the nodes' bonus pool went back to its owner. One transaction a job, about,
 * rather than one a round.
 */
async function reportImprovement(ctx: Context, job: JobRecord, ckpt: StoredCheckpoint) {
  const last = { valLoss: ckpt.valLoss, shardLoss: ckpt.evaluation.shardLoss };
  const bps = improvementBps({ metrics: [last], initialValLoss: job.initialValLoss });
  const { client, addresses } = ctx.chain;
  // Not for a round the chain will not close (its owner abandoned the job with it open): the
  // bonus would pay for weights the owner never gets. Finalize reports the last closed round's.
  const onChain = await readJob(client, { addresses, jobId: job.jobId });
  if (onChain.status !== JobStatus.Running || onChain.currentRound !== job.round) return;
  if (job.round + 1 < job.rounds) {
    const target = onChain.targetImprovementBps;
    const met = (x: number) => target > 0 && x >= target;
    if (met(bps) === met(onChain.achievedImprovementBps)) return;
  }
  // A restart after someone settled the closed job: the report is moot, the close is done.
  await once(
    () => reportAccuracy(client, { addresses, jobId: job.jobId, improvementBps: bps }),
    ["JobManager__WrongStatus"],
  );
}

/** JobManager.closeRound with the checkpoint (a restart finds it closed). */
async function closeOnChain(ctx: Context, job: JobRecord, ckpt: StoredCheckpoint) {
  const { client, addresses } = ctx.chain;
  const { checkpointCid, weightsDigest } = ckpt;
  try {
    await closeRound(client, {
      addresses,
      jobId: job.jobId,
      round: job.round,
      checkpointCid,
      weightsDigest,
    });
  } catch (e) {
    if (revertedWith(e, ["JobManager__WrongRound"])) return;
    // WrongStatus is "already closed" (a restart after the last round) unless the owner
    // abandoned the job with this round open.
    if (await abandonedOnChain(ctx, job, e)) throw new JobAbandonedError(job.jobId, job.round);
    if (!revertedWith(e, ["JobManager__WrongStatus"])) throw e;
  }
}

/** Adds the checkpoint to the job's ModelRegistry model, when the owner named one. */
async function addToModel(ctx: Context, job: JobRecord, ckpt: StoredCheckpoint) {
  const modelId = job.modelId;
  if (!modelId) return;
  const { client, addresses } = ctx.chain;
  const { checkpointCid, weightsDigest } = ckpt;
  await once(
    () =>
      addCheckpoint(client, { addresses, modelId, round: job.round, checkpointCid, weightsDigest }),
    ["ModelRegistry__StaleRound"],
  );
}

/** What a close records: the combined updates, the checkpoint, the server optimizer's state. */
export interface Closed {
  closing: Closing;
  combined: Combined;
  ckpt: StoredCheckpoint;
  outerVelocityCid?: string;
}

/**
 * Opens the next round in KV (or completes the job), with the closed round's metric; returns
 * that metric and the round's missing nodes, or undefined when another aggregator advanced the
 * job first.
 */
export async function advanceJob(
  ctx: Context,
  entry: JobEntry,
  job: JobRecord,
  r: Closed,
): Promise<{ metric: RoundMetric; missing: string[] } | undefined> {
  const delivered = new Set(r.closing.delivered ?? r.closing.nodes);
  const missing = job.assigned.filter((n) => !delivered.has(n));
  // The list under its own key, named by its content in the metric (in the head, every round's
  // list grew it past KV's 800 KiB a write after a few rounds of 2,000 missing). Written before
  // the advance, so a crash after it loses nothing; a losing close's list is named by no metric
  // (found reviewing this: keyed by the round alone, the first writer's was taken, and it could be
  // a close that lost to an extension).
  const missingId = await contentId(missing);
  await commitLarge(ctx.kv, [...missingKey(job.jobId, job.round), missingId], missing);
  const next = job.round + 1 < job.rounds
    // Recorded for the round the spare starts in: a moved node that commits that round before
    // its move lands is then challenged at that round's close (undelivered), not never.
    ? await reassignDropped(ctx, job, missing, job.round + 1)
    : { job, moves: [] };
  const metric = { ...roundMetric(ctx, job, r, missing.length), missingId };
  const updated: JobRecord = {
    ...next.job,
    round: job.round + 1,
    status: job.round + 1 === job.rounds ? "completed" : "running",
    globalCid: r.ckpt.checkpointCid,
    roundOpenedAt: ctx.now(),
    outerVelocityCid: r.outerVelocityCid,
    privacy: r.combined.privacy,
    metrics: [...job.metrics, metric],
  };
  // With the advance, the round's challenges are owed: a close that stops before issuing them
  // leaves this for the follow-up (challenges.ts resumeChallenges).
  const pending: PendingChallenges = { globalCid: job.globalCid, at: ctx.now() };
  const op = setJob(ctx.kv.atomic().check(entry), updated)
    .set(pendingChallengesKey(job.jobId, job.round), pending);
  const res = await withMoves(op, next.job, next.moves).commit();
  if (!res.ok) return undefined;
  // Only once the advance is in: a close retried before it reads the state it replaced.
  await releaseClosedRound(ctx, job, { before: job.outerVelocityCid, after: r.outerVelocityCid });
  return { metric, missing };
}

/** The closed round's metric: a count of its missing nodes, of constant size in nodes. */
function roundMetric(ctx: Context, job: JobRecord, r: Closed, missing: number): RoundMetric {
  return {
    round: job.round,
    valLoss: r.ckpt.valLoss,
    shardLoss: r.ckpt.evaluation.shardLoss,
    valStdErr: r.ckpt.evaluation.stdErr,
    updates: r.closing.nodes.length,
    missingCount: missing,
    reason: r.closing.reason,
    bytes: r.combined.bytes + r.ckpt.bytes,
    updateBytes: r.combined.bytes,
    checkpointCid: r.ckpt.checkpointCid,
    closedAt: ctx.now(),
  };
}

/**
 * Adds the writes of reassignments (each node's place handed to its replacement), each recorded
 * in the moved node's entry: `job` is the job after them, its last `moves.length` moves theirs.
 */
function withMoves(
  op: Deno.AtomicOperation,
  job: JobRecord,
  moves: NodeMove[],
): Deno.AtomicOperation {
  const first = job.reassigned.length - moves.length;
  moves.forEach((m, i) => {
    const moved = { round: job.reassigned[first + i]!.round, seq: first + i };
    moveNode(op, job.jobId, { ...m, moved });
  });
  return op;
}

/**
 * Runs aggregateJob over every running job (what the cron calls) and follows up verification of
 * completed ones. One job's failure is reported in its outcome (status "failed") and logged, never
 * the end of the run: a job that cannot close must not stop the others closing.
 */
export async function aggregateAll(ctx: Context): Promise<AggregateOutcome[]> {
  const out: AggregateOutcome[] = [];
  // Not finalized ones: settled, no case of them is open on chain.
  for (const job of await listLiveJobHeads(ctx.kv)) {
    try {
      if (job.status === "running") {
        const r = await aggregateJob(ctx, job.jobId);
        out.push(r.ok ? r : failed(job, r.message));
      } else {
        // Challenges and disputes of a job's last rounds still run out after it completes.
        const spec = await loadSpec(ctx.store, job.specCid);
        await followUpVerification(ctx, await withAssignment(ctx.kv, job), spec);
      }
    } catch (e) {
      console.error(`aggregate: job ${job.jobId} round ${job.round}:`, e);
      out.push(failed(job, publicReason(e)));
    }
  }
  return out;
}

/**
 * What an unexpected failure may tell POST /aggregate's (unauthenticated) caller: a rejection's
 * or a chain call's own words, never a raw error's text, which carries the RPC URL and any API
 * key in it (viem's "URL: ..." line); the whole error is logged.
 */
function publicReason(e: unknown): string {
  if (e instanceof RejectedError) return e.rejection.message;
  if (e instanceof ChainCallError) return e.message;
  if (rpcUnavailable(e)) return "the chain's RPC endpoint did not answer; the next run retries";
  return "internal error (the coordinator's log has it)";
}

function failed(job: JobHead, message: string): AggregateOutcome {
  return {
    ok: true,
    jobId: job.jobId,
    round: job.round,
    status: "failed",
    reason: message,
    updates: 0,
    missing: [],
  };
}
