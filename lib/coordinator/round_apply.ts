/**
 * Applying a round's combined delta and storing the checkpoint: plain addition, or DiLoCo's
 * outer Nesterov step (its velocity stored beside the checkpoint); then the checkpoint in SVDB
 * with its Merkle weights digest and validation loss (per shard and their mean).
 */
import type { Hex } from "viem";
import { encodeCheckpoint } from "../model/checkpoint.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { f32Bytes } from "../round/local_training.ts";
import { merkleRoot } from "../crypto/merkle.ts";
import { OuterOptimizer } from "../strategy/outer_optimizer.ts";
import type { Context } from "./context.ts";
import { evaluateWeights, type Evaluation, loadWeights } from "./job.ts";
import type { JobRecord } from "./state.ts";

/** The next global weights (and DiLoCo's velocity CID) from `global` and the round's delta. */
export async function applyDelta(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  global: Float32Array,
  delta: Float32Array,
): Promise<{ weights: Float32Array; outerVelocityCid?: string }> {
  const weights = global.slice();
  if (spec.aggregation.strategy !== "diloco") {
    for (let i = 0; i < weights.length; i++) weights[i] = weights[i]! + delta[i]!;
    return { weights, outerVelocityCid: job.outerVelocityCid };
  }
  const outer = new OuterOptimizer(weights.length, {
    lr: spec.aggregation.outerLr,
    momentum: spec.aggregation.outerMomentum,
  });
  if (job.outerVelocityCid) {
    outer.load(await loadWeights(ctx.store, job.outerVelocityCid), job.round);
  }
  outer.step(weights, delta);
  const velocity = encodeCheckpoint(spec.model, outer.velocity, { kind: "outer-velocity" });
  return { weights, outerVelocityCid: (await ctx.store.put(velocity)).toString() };
}

/** A round's stored checkpoint. */
export interface StoredCheckpoint {
  checkpointCid: string;
  /** Size of the checkpoint written. */
  bytes: number;
  weightsDigest: Hex;
  /** The checkpoint's validation loss: per shard and their mean (`evaluation.loss`). */
  evaluation: Evaluation;
  valLoss: number;
}

/** Stores the round's checkpoint in SVDB and measures it on the validation bytes. */
export async function storeCheckpoint(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  weights: Float32Array,
): Promise<StoredCheckpoint> {
  const ckpt = encodeCheckpoint(spec.model, weights, { round: String(job.round), job: job.jobId });
  const checkpointCid = (await ctx.store.put(ckpt)).toString();
  const evaluation = await evaluateWeights(ctx.store, spec, weights);
  return {
    checkpointCid,
    bytes: ckpt.length,
    weightsDigest: merkleRoot(f32Bytes(weights)),
    evaluation,
    valLoss: evaluation.loss,
  };
}
