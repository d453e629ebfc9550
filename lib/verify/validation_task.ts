/**
 * A committee member's validation task: recompute one target node's round of a spot-checked job
 * from the round's starting checkpoint, with the target's shard and seed, and attest the result
 * hash on chain (VerificationManager.attest). The kernel is deterministic, so every honest member
 * gets the hash an honest target committed; the chain's majority decides.
 *
 * @example
 * ```ts
 * import { reproducible } from "./validation_task.ts";
 * console.assert(reproducible({ compression: { codec: "fp32" } }));
 * console.assert(!reproducible({ compression: { codec: "int8" } }));
 * console.assert(!reproducible({ asynchronous: { maxStaleness: 2 } }));
 * ```
 */
import type { Hex } from "viem";
import type { TrainStepFn } from "../../kernel/train_step.ts";
import { fp32Codec } from "../compress/fp32.ts";
import { type JobSpec, roundHyper } from "../job_spec.ts";
import { recomputeRound } from "./recompute.ts";

/** What GET /assign hands a committee member. */
export interface ValidationTask {
  status: "validate";
  jobId: Hex;
  round: number;
  /** The node whose round is recomputed. */
  target: Hex;
  specCid: string;
  /** The round's starting checkpoint (the global model the target trained from). */
  checkpointCid: string;
  /** The target's shard. */
  shard: { index: number; cid: string };
  /** The target's task seed. */
  seed: number;
}

/**
 * Whether a round of `spec` can be recomputed from its starting checkpoint alone: not with a
 * lossy codec (the update depends on the node's error-feedback history) nor asynchronously (the
 * node may have trained on an older model).
 */
export function reproducible(spec: Pick<JobSpec, "compression" | "asynchronous">): boolean {
  return (!spec.compression || spec.compression.codec === "fp32") && !spec.asynchronous;
}

/** The result hash an honest target committed for `task` (reuses recomputeRound). */
export function recomputeTarget(
  trainer: { trainStep: TrainStepFn },
  params: { global: Float32Array; spec: JobSpec; task: ValidationTask; data: Uint8Array },
): Hex {
  const { spec, task } = params;
  if (!reproducible(spec)) {
    throw new RangeError("Cannot recompute: the job's rounds are not reproducible");
  }
  return recomputeRound(trainer, params.global, {
    jobId: task.jobId,
    round: task.round,
    seed: task.seed,
    localSteps: spec.localSteps,
    proofEvery: spec.proofEvery,
    data: params.data,
    hyper: roundHyper(spec, task.round),
  }, { encode: spec.compression ? (d) => fp32Codec().encode(d).bytes : undefined }).resultHash;
}
