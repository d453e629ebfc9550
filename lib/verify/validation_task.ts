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
 * console.assert(reproducible({ compression: { codec: "partition" } }));
 * console.assert(!reproducible({ compression: { codec: "int8" } }));
 * console.assert(!reproducible({ asynchronous: { maxStaleness: 2 } }));
 * ```
 */
import type { Hex } from "viem";
import type { TrainStepFn } from "../../kernel/train_step.ts";
import { fp32Codec } from "../compress/fp32.ts";
import { codecFor } from "../strategy/select.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { roundTask } from "../round/round_task.ts";
import type { LocalTask } from "../round/local_training.ts";
import { recomputeRound, recomputeRoundYielding } from "./recompute.ts";
import { UNCHECKED_DOMAIN } from "../crypto/domain.ts";

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
  /** The target's slot in that round (the partition codec's part). */
  slot: number;
}

/**
 * Whether a round of `spec` can be recomputed from its starting checkpoint alone: not with an
 * error-feedback codec (the update depends on the node's residual history) nor asynchronously
 * (the node may have trained on an older model). The partition codec keeps no residual and its
 * payload is a pure function of (delta, round seed, slot), so its rounds are reproducible.
 */
export function reproducible(spec: Pick<JobSpec, "compression" | "asynchronous">): boolean {
  const codec = spec.compression?.codec ?? "fp32";
  return (codec === "fp32" || codec === "partition") && !spec.asynchronous;
}

/**
 * The encoder a node of `slot` used in `round` of a reproducible job (undefined: the f32
 * delta itself, as jobs without compression send it).
 *
 * @throws {RangeError} when the job's codec keeps error-feedback state
 */
export function roundEncoder(
  spec: Pick<JobSpec, "compression" | "seed">,
  round: number,
  slot: number,
): ((delta: Float32Array) => Uint8Array) | undefined {
  const c = spec.compression;
  if (!c) return undefined;
  if (c.codec === "fp32") return (d) => fp32Codec().encode(d).bytes;
  if (c.codec === "partition") {
    const codec = codecFor(c, { jobSeed: spec.seed, round, slot });
    return (d) => codec.encode(d).bytes;
  }
  throw new RangeError(`Cannot recompute: codec ${c.codec} depends on error-feedback history`);
}

/** The result hash an honest target committed for `task` (reuses recomputeRound). */
export function recomputeTarget(
  trainer: { trainStep: TrainStepFn },
  params: TargetInputs,
): Hex {
  const [task, encode] = targetRound(params);
  return recomputeRound(trainer, params.global, task, { encode }).resultHash;
}

/**
 * {@link recomputeTarget} pausing for `between()` between steps, at most every `everyMs`, for a
 * committee member that keeps heartbeating while it recomputes (a round may take hours).
 */
export async function recomputeTargetYielding(
  trainer: { trainStep: TrainStepFn },
  params: TargetInputs,
  pause: { between: () => Promise<void>; everyMs: number },
): Promise<Hex> {
  const [task, encode] = targetRound(params);
  return (await recomputeRoundYielding(trainer, params.global, task, { encode, ...pause }))
    .resultHash;
}

/** What recomputing a target's round takes. */
export interface TargetInputs {
  global: Float32Array;
  spec: JobSpec;
  task: ValidationTask;
  data: Uint8Array;
}

/** The target's round as a local task, and the job's encoder of its update. */
function targetRound(
  params: TargetInputs,
): [LocalTask, ((delta: Float32Array) => Uint8Array) | undefined] {
  const { spec, task } = params;
  if (!reproducible(spec)) {
    throw new RangeError("Cannot recompute: the job's rounds are not reproducible");
  }
  const local = roundTask(spec, task, UNCHECKED_DOMAIN, params.data);
  return [local, roundEncoder(spec, task.round, task.slot)];
}
