/**
 * The local task of one node's round of a job, as the spec fixes it: the worker trains it, the
 * coordinator and committee members recompute it, and all must build it alike to get the same
 * digests.
 *
 * @example
 * ```ts
 * import { roundTask } from "./round_task.ts";
 * import { UNCHECKED_DOMAIN } from "../crypto/domain.ts";
 * import type { JobSpec } from "../job/job_spec.ts";
 * const spec = {
 *   localSteps: 2, proofEvery: 1, rounds: 1,
 *   model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
 *   batch: { B: 2, T: 16, accumSteps: 1 },
 *   optimizer: { lr: 3e-3, minLrRatio: 1, weightDecay: 0, gradClip: 1 },
 * } as JobSpec;
 * const at = { jobId: `0x${"11".repeat(32)}` as const, round: 0, seed: 7 };
 * const task = roundTask(spec, at, UNCHECKED_DOMAIN, new Uint8Array(64));
 * console.assert(task.localSteps === 2 && task.seed === 7);
 * ```
 */
import type { Hex } from "viem";
import type { ArthaDomain } from "../crypto/domain.ts";
import { type JobSpec, roundHyper } from "../job/job_spec.ts";
import type { LocalTask } from "./local_training.ts";

/** Round `at.round` of `at.jobId` with the task's seed on `data`, its proofs signed for `domain`. */
export function roundTask(
  spec: JobSpec,
  at: { jobId: Hex; round: number; seed: number },
  domain: ArthaDomain,
  data: Uint8Array,
): LocalTask {
  return {
    jobId: at.jobId,
    round: at.round,
    seed: at.seed,
    localSteps: spec.localSteps,
    proofEvery: spec.proofEvery,
    domain,
    data,
    hyper: roundHyper(spec, at.round),
  };
}
