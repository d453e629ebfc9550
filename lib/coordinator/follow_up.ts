/**
 * Verification a round leaves behind, seen through on every aggregate call and before a job
 * settles: challenges a close stopped before issuing, challenges answered or timed out, disputes arbitrated or ended once their window passed,
 * committee targets settled. Each
 * is a case ProofOfCompute counts, and a job's rewards settle only once none is open.
 */
import type { JobSpec } from "../job/job_spec.ts";
import { checkChallenges, resumeChallenges } from "./challenges.ts";
import { settleCommittees } from "./committees.ts";
import type { Context } from "./context.ts";
import { arbitrateDisputes, endStaleDisputes } from "./disputes.ts";
import { singleFlight } from "./single_flight.ts";
import type { JobRecord } from "./state.ts";

/**
 * Challenges, disputes and committees of a job's earlier rounds, each taken as far as it goes.
 * One follow-up of a job at a time, in this process and across processes sharing its KV (a
 * lease): anyone may POST /aggregate and /finalize, and two runs judging the same wrong answer
 * each penalised it, slashing a node again and again for one offence. A caller that finds the
 * lease taken goes on without it; the holder does the work.
 */
export async function followUpVerification(ctx: Context, job: JobRecord, spec: JobSpec) {
  await singleFlight(ctx, `follow-up:${job.jobId}`, async () => {
    const lease = await takeLease(ctx, job.jobId);
    if (!lease) return;
    try {
      // Each step alone: found in the coordinator audit, a case that threw (a challenge of a
      // node moved off its task, recomputed at slot -1) threw out of every aggregate and
      // finalize of the job, before the close: no round of it closed again. A failing step is
      // logged and taken up again by the next call; the round's close does not wait for it.
      await logged(job, "owed challenges", () => resumeChallenges(ctx, job, spec));
      await logged(job, "challenges", () => checkChallenges(ctx, job, spec));
      // Timeouts first: a missed move without a majority sends its dispute to the arbiter, who
      // then decides it in the same pass.
      await logged(job, "stale disputes", () => endStaleDisputes(ctx, job, spec));
      await logged(job, "disputes", () => arbitrateDisputes(ctx, job, spec));
      await logged(job, "committees", () => settleCommittees(ctx, job));
    } finally {
      await ctx.kv.atomic().check(lease).delete(lease.key).commit();
    }
  });
}

/** Runs one step of the follow-up; a failure is logged, not thrown. */
async function logged(job: JobRecord, step: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    console.error(`follow-up: job ${job.jobId} ${step}:`, e);
  }
}

/** How long a follow-up may hold its job's lease before another may take it (a crashed run's). */
export const FOLLOW_UP_LEASE_MS = 30 * 60_000;

/** Takes the job's follow-up lease unless a live one is held; returns what to release. */
async function takeLease(
  ctx: Context,
  jobId: string,
): Promise<{ key: Deno.KvKey; versionstamp: string } | undefined> {
  const key = ["follow_up_lease", jobId.toLowerCase()];
  const held = await ctx.kv.get<number>(key);
  if (held.value !== null && ctx.now() < held.value) return undefined;
  const until = ctx.now() + FOLLOW_UP_LEASE_MS;
  const res = await ctx.kv.atomic().check(held).set(key, until, { expireIn: FOLLOW_UP_LEASE_MS })
    .commit();
  return res.ok ? { key, versionstamp: res.versionstamp } : undefined;
}
