/**
 * The first step of a round's close: fix the set of updates it uses before any side effect,
 * so a restart re-derives the same checkpoint and nothing is counted twice. With a
 * verification policy a task group's identical updates count once and outliers not at all.
 */
import type { Hex } from "viem";
import { BPS, decideRound, type RoundDecision } from "../job/round_policy.ts";
import { groupResults } from "../verify/redundancy.ts";
import { resultHashOf } from "../verify/recompute.ts";
import type { JobSpec } from "../job/job_spec.ts";
import type { Context } from "./context.ts";
import {
  commitLarge,
  getLarge,
  type JobRecord,
  listValues,
  roundUpdates,
  updateCountKey,
  type UpdateRecord,
} from "./state.ts";

/** The set of updates a round's close uses, fixed before any side effect. */
export interface Closing {
  /** The updates combined (with redundancy: one per agreeing task group). */
  nodes: string[];
  /**
   * Nodes that delivered a good update, combined or not: a redundant copy is not missing and
   * keeps its task. Absent in closings written before this field existed.
   */
  delivered?: string[];
  reason: string;
}

/**
 * The closing reason of a secure round no attempt could sum after a dealer of bad shares was named
 * (./secure_round.ts): it keeps the weights it opened with.
 */
export const SECURE_FAILED_REASON = "secure-aggregation-failed";

/**
 * Whom a closed round's spot checks draw from: its counted updates; for a secure round closed
 * empty, the nodes that delivered (found reviewing the empty close: nobody of that round was
 * drawn, so its commits were paid unchecked).
 */
export function drawnFrom(closing: Closing): string[] {
  return closing.reason === SECURE_FAILED_REASON ? closing.delivered ?? [] : closing.nodes;
}

export const closingKey = (jobId: string, round: number): Deno.KvKey => [
  "closing",
  jobId,
  round,
];

/** The recorded closing set, or the round policy's decision when there is none yet. */
export type ClosingStep =
  | { fixed: true; closing: Closing }
  | { fixed: false; decision: RoundDecision };

/** Reads the round's closing set, or decides and records it when the round may close. */
export async function fixClosingSet(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
): Promise<ClosingStep> {
  const key = closingKey(job.jobId, job.round);
  for (;;) {
    const recorded = (await getLarge<Closing>(ctx.kv, key)).value;
    if (recorded) return { fixed: true, closing: recorded };
    const step = await decideClosingSet(ctx, job, spec, key);
    if (step) return step;
    // An update was stored between the listing and the record (intake refuses one only once the
    // set is recorded): decide again with it. Each node stores one a round, so this ends.
  }
}

/**
 * Lists the round's updates and records the closing set they make, guarded by the round's update
 * count: found in the round pipeline audit, an update stored after the listing was accepted
 * (201), never combined and never checked, and its node was paid for the round.
 */
async function decideClosingSet(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  key: Deno.KvKey,
): Promise<ClosingStep | undefined> {
  const count = await ctx.kv.get(updateCountKey(job.jobId, job.round));
  const received = await listValues<UpdateRecord>(ctx.kv, roundUpdates(job.jobId, job.round));
  const decision = decideRound(
    {
      assigned: job.assigned,
      received: received.map((u) => u.nodePubkey),
      openedAt: job.roundOpenedAt,
      now: ctx.now(),
    },
    {
      quorumBps: Math.round(spec.aggregation.quorum * BPS),
      deadlineMs: spec.aggregation.deadlineMs,
      minUpdates: 1,
    },
  );
  if (!decision.close || !decision.ok) return { fixed: false, decision };
  const closing = { ...countedUpdates(job, spec, received), reason: decision.reason };
  // In parts, each its own commit: a verified 10,000-node set (~1 MB) in one commit exceeded KV's
  // 800 KiB, and the round never closed. The first set recorded is the one every racer uses.
  const fixed = await commitLarge<Closing>(ctx.kv, key, closing, [count]);
  return fixed && { fixed: true, closing: fixed };
}

/** Which received updates count, and which nodes delivered. */
export function countedUpdates(
  job: JobRecord,
  spec: JobSpec,
  received: readonly UpdateRecord[],
): { nodes: string[]; delivered?: string[] } {
  const holders = new Set<string>(job.assigned);
  const nodes = received.map((u) => u.nodePubkey).filter((n) => holders.has(n)).sort();
  // Without verification every counted node delivered (`delivered` left out: the record
  // stays half the size).
  if (!spec.verification) return { nodes };
  // Redundancy: a task's r identical updates count once; outliers do not count at all.
  const groups = groupResults(
    taskResults(job, received.filter((u) => holders.has(u.nodePubkey))),
    groupSizes(job),
  );
  return {
    nodes: groups.flatMap((g) => g.counted ? [g.counted as Hex] : []).sort(),
    delivered: groups.flatMap((g) => g.agreeing).sort(),
  };
}

/** Each update's task group (task + 1) and result hash, as the chain settles them. */
export function taskResults(job: JobRecord, updates: readonly UpdateRecord[]) {
  return updates.map((u) => ({
    nodePubkey: u.nodePubkey,
    group: job.taskOf[u.nodePubkey]! + 1,
    resultHash: resultHashOf(u.lossDigest, u.gradientDigest, u.weightsDigest),
  }));
}

/**
 * The size of each task group (group = task + 1) in the job's open round: the nodes holding the
 * task now, as the chain's majority counts a group in a round. Counting every node ever given
 * the task (a replaced one too) dropped a group's agreeing majority after a reassignment (two of
 * three members agreeing, in a group of four), while the chain settled it, and paid it.
 */
export function groupSizes(job: JobRecord): (group: number) => number {
  const sizes = new Map<number, number>();
  for (const node of job.assigned) {
    const group = job.taskOf[node]! + 1;
    sizes.set(group, (sizes.get(group) ?? 0) + 1);
  }
  return (group) => sizes.get(group) ?? 0;
}
