/**
 * The validator's verdict on an answered challenge: it recomputes the challenged node's round from
 * the round's starting checkpoint and judges the node's commit as a whole, then what it revealed.
 * A node whose commit is not the recomputed round is penalised however it answered (found in the
 * verification audit: judging only the opened chunk or step let a node that altered a few chunks
 * of its delta, committed and delivered consistently, pass most challenges, and one answering
 * with padding chunks of an over-deep tree pass all of them).
 */
import type { Hex } from "viem";
import { getRevealedChunks } from "../chain/get_revealed_chunks.ts";
import { getRevealedStep } from "../chain/get_revealed_step.ts";
import { getRoundResult } from "../chain/get_round_result.ts";
import { rejectAnswer } from "../chain/reject_answer.ts";
import { bytesToHex } from "../crypto/digest.ts";
import { UNCHECKED_DOMAIN } from "../crypto/domain.ts";
import { type JobSpec, taskSeed, taskShard } from "../job/job_spec.ts";
import { STEP_RECORD_BYTES } from "../round/local_training.ts";
import { roundTask } from "../round/round_task.ts";
import { type Recomputed, recomputeRound, wrongChunks } from "../verify/recompute.ts";
import { reproducible, roundEncoder } from "../verify/validation_task.ts";
import type { Context } from "./context.ts";
import { deliveredSlot, loadWeights, processTrainer } from "./job.ts";
import { once } from "./once.ts";
import { type JobRecord, scanStart } from "./state.ts";

/** The challenge judged (challenges.ts ChallengeRecord, without importing it back). */
export interface JudgedChallenge {
  id: string;
  jobId: Hex;
  round: number;
  nodePubkey: Hex;
  kind: "challenge" | "sample" | "step";
}

/** What a judged challenge becomes. */
export type Verdict = "open" | "verified" | "penalised" | "skipped";

/** The validator: recompute the node's round and compare its commit and what it revealed. */
export async function verifyAnswer(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  rec: JudgedChallenge,
): Promise<Verdict> {
  // With an error-feedback codec the update depends on the node's residual history, which one
  // round does not reproduce; redundancy and disputes cover those jobs.
  if (!reproducible({ compression: spec.compression })) return "skipped";
  const task = job.taskOf[rec.nodePubkey];
  if (task === undefined) return "skipped";
  const expected = await recomputeChallenged(ctx, job, spec, rec, task);
  if (!expected) return "open"; // the previous round's checkpoint is not recorded yet
  const honest = await committedRecomputed(ctx, rec, expected) &&
    await revealedRecomputed(ctx, job, rec, expected);
  if (honest === undefined) return "open";
  if (honest) return "verified";
  // The verdict names the challenge: one penalty per answered challenge, at the chain's rate.
  const { client, addresses } = ctx.chain;
  await once(() => rejectAnswer(client, { addresses, challengeId: BigInt(rec.id) }), [
    "Verification__NotAnswered",
  ]);
  return "penalised";
}

/**
 * Whether the node's on-chain commit is the recomputed round's: all three digests, through their
 * hash (ProofOfCompute.resultOf). The gradient digest too under a privacy policy or secure
 * aggregation: a node commits the digest of its update before any clipping, noise or masking
 * (lib/worker/deliver.ts commitTrained), which is what a committee member attests as well.
 */
async function committedRecomputed(
  ctx: Context,
  rec: JudgedChallenge,
  expected: Recomputed,
): Promise<boolean> {
  const { client, addresses } = ctx.chain;
  const at = { addresses, jobId: rec.jobId, round: rec.round, nodePubkey: rec.nodePubkey };
  const committed = await getRoundResult(client, at);
  return committed.toLowerCase() === expected.resultHash.toLowerCase();
}

/** Whether the revealed step record or chunks are the recomputed ones (undefined: not seen yet). */
async function revealedRecomputed(
  ctx: Context,
  job: JobRecord,
  rec: JudgedChallenge,
  expected: Recomputed,
): Promise<boolean | undefined> {
  const { client, addresses } = ctx.chain;
  const challengeId = BigInt(rec.id);
  const fromBlock = scanStart(job);
  if (rec.kind === "step") {
    // The step's record (loss, weights hash, gradient hash) must be the recomputed one.
    const opened = await getRevealedStep(client, { addresses, challengeId, fromBlock });
    if (!opened) return undefined;
    const at = opened.step * STEP_RECORD_BYTES;
    const want = bytesToHex(expected.stepRecords.subarray(at, at + STEP_RECORD_BYTES));
    return want === opened.record.toLowerCase();
  }
  // The openings are chunks of what the gradientDigest covers: the f32 delta, or the payload.
  const chunks = await getRevealedChunks(client, { addresses, challengeId, fromBlock });
  return wrongChunks(expected.updateBytes, chunks).length === 0;
}

/** The challenged node's round recomputed from its starting checkpoint, if recorded yet. */
async function recomputeChallenged(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  rec: JudgedChallenge,
  task: number,
): Promise<Recomputed | undefined> {
  const startCid = rec.round === 0
    ? spec.initialWeights
    : job.metrics[rec.round - 1]?.checkpointCid;
  if (!startCid) return undefined;
  const slot = await deliveredSlot(ctx.kv, job, spec, rec.round, rec.nodePubkey);
  const global = await loadWeights(ctx.store, startCid);
  const data = await ctx.store.get(spec.shards[taskShard(spec, task)]!.cid);
  const at = { jobId: job.jobId, round: rec.round, seed: taskSeed(spec, task) };
  return recomputeRound(processTrainer(), global, roundTask(spec, at, UNCHECKED_DOMAIN, data), {
    encode: roundEncoder(spec, rec.round, slot),
  });
}
