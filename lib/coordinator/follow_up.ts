/**
 * Verification a round leaves behind, seen through on every aggregate call and before a job
 * settles: challenges answered or timed out, disputes arbitrated or ended once their window passed,
 * committee targets settled. Each
 * is a case ProofOfCompute counts, and a job's rewards settle only once none is open.
 */
import type { JobSpec } from "../job/job_spec.ts";
import { checkChallenges } from "./challenges.ts";
import { settleCommittees } from "./committees.ts";
import type { Context } from "./context.ts";
import { arbitrateDisputes, endStaleDisputes } from "./disputes.ts";
import type { JobRecord } from "./state.ts";

/** Challenges, disputes and committees of a job's earlier rounds, each taken as far as it goes. */
export async function followUpVerification(ctx: Context, job: JobRecord, spec: JobSpec) {
  await checkChallenges(ctx, job, spec);
  await arbitrateDisputes(ctx, job, spec);
  await endStaleDisputes(ctx, job, spec);
  await settleCommittees(ctx, job);
}
