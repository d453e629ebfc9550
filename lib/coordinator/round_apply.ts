/**
 * Applying a round's combined delta and storing the checkpoint: plain addition (FedAvg), or one
 * step of the spec's server optimizer (FedAvgM, DiLoCo, FedAdam, FedYogi;
 * lib/strategy/server_optimizer.ts) whose state is stored in SVDB beside the checkpoint; then the
 * checkpoint with its Merkle weights digest and validation loss (per shard and their mean).
 */
import type { Hex } from "viem";
import { decodeCheckpoint, encodeCheckpoint, encodeCheckpointChunks } from "../model/checkpoint.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { f32Bytes } from "../round/local_training.ts";
import { merkleRoot } from "../crypto/merkle.ts";
import { decodeSafetensors, encodeSafetensors, toFloat32 } from "../model/tensors.ts";
import { type ServerOptimizer, serverOptimizerFor } from "../strategy/server_optimizer.ts";
import type { Context } from "./context.ts";
import { evaluateWeights, type Evaluation } from "./job.ts";
import type { JobRecord } from "./state.ts";
import { liftPrivate } from "./svdb_private.ts";

/**
 * The next global weights from `global` and the round's delta, and the CID of the server
 * optimizer's state after the step (`outerVelocityCid`, the job record's one state field).
 */
export async function applyDelta(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  global: Float32Array,
  delta: Float32Array,
): Promise<{ weights: Float32Array; outerVelocityCid?: string }> {
  const weights = global.slice();
  const server = serverOptimizerFor(spec.aggregation, weights.length);
  if (!server) {
    for (let i = 0; i < weights.length; i++) weights[i] = weights[i]! + delta[i]!;
    return { weights, outerVelocityCid: job.outerVelocityCid };
  }
  if (job.outerVelocityCid) {
    const stored = await loadServerState(ctx, spec, job.outerVelocityCid);
    server.load(stored.state, stored.steps ?? job.round);
  }
  server.step(weights, delta);
  return {
    weights,
    outerVelocityCid: (await ctx.store.put(encodeServerState(spec, server, job.jobId))).toString(),
  };
}

/**
 * The optimizer's state as stored: a momentum rule's velocity as a model checkpoint (the format
 * DiLoCo jobs have always written), Adam/Yogi's two moments as safetensors `m` and `v`. Both carry
 * the step count: bias correction and an lr warmup read it, and a round that closed without a
 * step (no updates) must not advance it.
 */
function encodeServerState(spec: JobSpec, server: ServerOptimizer, job: string): Uint8Array {
  const state = server.state();
  // Named by its job: no other job's file (a release unpins the state a close replaced).
  const steps = String(server.steps);
  if (state.velocity) {
    return encodeCheckpoint(spec.model, state.velocity, { kind: "outer-velocity", steps, job });
  }
  const tensors = Object.fromEntries(
    Object.entries(state).map(([name, data]) => [name, { shape: [data.length], data }]),
  );
  return encodeSafetensors(tensors, {
    metadata: { kind: `outer-${spec.aggregation.strategy}`, steps, job },
  });
}

async function loadServerState(
  ctx: Context,
  spec: JobSpec,
  cid: string,
): Promise<{ state: Record<string, Float32Array>; steps?: number }> {
  const bytes = await ctx.store.get(cid);
  const s = spec.aggregation.strategy;
  let state: Record<string, Float32Array>;
  let metadata: Record<string, string>;
  if (s === "diloco" || s === "fedavgm") {
    const checkpoint = decodeCheckpoint(bytes);
    state = { velocity: checkpoint.weights };
    metadata = checkpoint.metadata;
  } else {
    const file = decodeSafetensors(bytes);
    state = Object.fromEntries(
      Object.entries(file.tensors).map(([name, t]) => [name, toFloat32(t)]),
    );
    metadata = file.metadata;
  }
  // States written before the count was stored fall back to the job's round.
  const steps = Number(metadata.steps);
  return Number.isSafeInteger(steps) && steps >= 0 ? { state, steps } : { state };
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
  // Header + views of the weights, streamed into SVDB: a 124M model's 500 MB is never copied.
  const ckpt = encodeCheckpointChunks(spec.model, weights, {
    round: String(job.round),
    job: job.jobId,
  });
  const checkpointCid = (await ctx.store.put(ReadableStream.from(ckpt.chunks))).toString();
  // A checkpoint is public. Found reviewing the folder fix: one a round closed without updates
  // (its bytes the start's and the round's number) could be uploaded privately first, and the
  // job's nodes were refused their next round's weights.
  await liftPrivate(ctx, checkpointCid);
  const evaluation = await evaluateWeights(ctx.store, spec, weights);
  return {
    checkpointCid,
    bytes: ckpt.byteLength,
    weightsDigest: merkleRoot(f32Bytes(weights)),
    evaluation,
    valLoss: evaluation.loss,
  };
}
