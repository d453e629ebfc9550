/**
 * Running a TrainTask: fetch the spec, the round's starting weights and the shard by CID, train
 * the local steps with the kernel (signing proofs every N steps), encode the update with the
 * job's codec from a copy of the error-feedback residual.
 *
 * @example
 * ```ts
 * import { encodeUpdate } from "./train.ts";
 * import type { JobSpec } from "../job/job_spec.ts";
 * import type { LocalResult } from "../round/local_training.ts";
 * const payload = new Uint8Array([1, 2, 3]);
 * const bytes = encodeUpdate({} as JobSpec, 0, { payload } as LocalResult);
 * console.assert(bytes === payload); // an encoded update is sent as is
 * ```
 */
import { createTrainer, type Hyper } from "../../kernel/train_step.ts";
import { createOffloadStep } from "../../kernel/offload.ts";
import type { Kernel } from "../../kernel/wasm_module.ts";
import { chooseTrainer } from "../job/planner.ts";
import type { ArthaDomain } from "../crypto/domain.ts";
import type { NodeKey } from "../crypto/keys.ts";
import { encodeCheckpoint } from "../model/checkpoint.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { roundTask } from "../round/round_task.ts";
import {
  type LocalResult,
  type LocalTask,
  trainLocal,
  type TrainLocalOptions,
  trainLocalYielding,
} from "../round/local_training.ts";
import type { ErrorFeedbackState } from "../compress/codec.ts";
import { codecFor } from "../strategy/select.ts";
import type { Gateway } from "./gateway.ts";
import type { WorkerState } from "./state.ts";
import type { TrainTask } from "./task.ts";

/** The kernel trainer a worker trains with. */
export type Trainer = Pick<ReturnType<typeof createTrainer>, "trainStep" | "evalLoss">;

/**
 * A trainer that picks, per model shape, the resident step or the offload step (weights, gradient
 * and AdamW state outside the 32-bit WASM memory) by the planner's figure for the resident
 * workspace (lib/job/planner.ts chooseTrainer). Both give identical bytes, so nodes that chose
 * differently still agree on every digest.
 *
 * @example
 * ```ts
 * import { sizedTrainer } from "./train.ts";
 * import { loadKernel } from "../../kernel/wasm_module.ts";
 * const trainer = sizedTrainer(loadKernel(), { budget: 0 }); // always offload
 * console.assert(typeof trainer.trainStep === "function");
 * ```
 */
export function sizedTrainer(kernel: Kernel, options: { budget?: number } = {}): Trainer {
  let resident: ReturnType<typeof createTrainer> | undefined;
  let offload: Trainer | undefined;
  const kinds = new Map<string, "resident" | "offload">(); // per shape: planning builds a network
  const pick = (hyper: Hyper): Trainer => {
    const key = JSON.stringify([hyper.model, hyper.B, hyper.T, hyper.dropout ?? 0]);
    let kind = kinds.get(key);
    if (!kind) {
      kind = chooseTrainer(hyper, { budget: options.budget, threads: kernel.threads }).kind;
      kinds.set(key, kind);
    }
    if (kind === "resident") return resident ??= createTrainer(kernel);
    // The resident workspace of an earlier job (up to 3 GiB) would sit under the offload step's
    // window, which then failed memory.grow at every retry (found reviewing the kernel fix).
    resident?.release();
    return offload ??= createOffloadStep(kernel);
  };
  return {
    trainStep: (weights, optState, batch, seed, hyper) =>
      pick(hyper).trainStep(weights, optState, batch, seed, hyper),
    evalLoss: (weights, batch, hyper, seed) => pick(hyper).evalLoss(weights, batch, hyper, seed),
  };
}

/** What training a task needs besides the task. */
export interface TrainContext {
  gateway: Gateway;
  state: WorkerState;
  trainer: Trainer;
  key: NodeKey;
  /** Where the proofs count: the deployment's ProofOfCompute on its chain. */
  domain: ArthaDomain;
  /** Called after every local step. */
  onStep?: (progress: { step: number; steps: number; loss: number }) => void;
  /**
   * The thread's other duties, run between local steps at most every {@link BETWEEN_STEPS_MS}
   * (a round may take hours; the node's heartbeats may not wait for it).
   */
  between?: () => Promise<void>;
}

/** Least ms of training between two runs of a TrainContext's `between`. */
export const BETWEEN_STEPS_MS = 1_000;

/** A trained round, not yet delivered. */
export interface TrainedRound {
  task: TrainTask;
  spec: JobSpec;
  /** The round's starting weights. */
  global: Float32Array;
  result: LocalResult;
  /** The residual after encoding this update (undefined: the codec keeps none). */
  residual?: ErrorFeedbackState;
}

/** What training a task starts from: fetched (and re-hashed) by the gateway, plus the residual. */
export interface TaskInputs {
  spec: JobSpec;
  /** The round's starting weights. */
  global: Float32Array;
  /** The shard's bytes. */
  data: Uint8Array;
  /** A copy of the job's residual to encode into (undefined: the codec keeps none). */
  residual?: ErrorFeedbackState;
}

/** Fetches what `task` needs and trains it, pausing for `ctx.between` while it trains. */
export async function trainTask(ctx: TrainContext, task: TrainTask): Promise<TrainedRound> {
  const inputs = await fetchTaskInputs(ctx, task);
  if (!ctx.between) return trainInputs(ctx, task, inputs);
  const { between } = ctx;
  const [global, local, key, options] = localRun(ctx, task, inputs);
  const result = await trainLocalYielding(ctx.trainer, global, local, key, {
    ...options,
    between,
    everyMs: BETWEEN_STEPS_MS,
  });
  return { task, spec: inputs.spec, global, result, residual: inputs.residual };
}

/** Fetches the spec, weights and shard of `task` and copies the job's residual. */
export async function fetchTaskInputs(
  ctx: Pick<TrainContext, "gateway" | "state">,
  task: TrainTask,
): Promise<TaskInputs> {
  const spec = await ctx.gateway.spec(task.specCid);
  const global = await ctx.gateway.weights(task.globalCid, spec.model);
  const data = await ctx.gateway.get(task.shard.cid, undefined, true);
  // Encode into a copy: the residual moves on only once this round's update is saved as
  // pending, so a retry after a failure re-encodes from the same residual and reproduces the
  // digests already committed on chain.
  const codec = codecOf(spec, task);
  const residual = codec && !codec.stateless
    ? { residual: (await ctx.state.residualFor(task.jobId, global.length)).residual.slice() }
    : undefined;
  return { spec, global, data, residual };
}

/**
 * Trains `task` from fetched inputs: no I/O, so it runs where the kernel is (the worker's
 * thread, or a browser tab's Web Worker with the inputs posted to it).
 */
export function trainInputs(
  ctx: Pick<TrainContext, "trainer" | "key" | "domain" | "onStep">,
  task: TrainTask,
  inputs: TaskInputs,
): TrainedRound {
  const result = trainLocal(ctx.trainer, ...localRun(ctx, task, inputs));
  return { task, spec: inputs.spec, global: inputs.global, result, residual: inputs.residual };
}

/** trainLocal's arguments after the trainer for `task`: weights, local task, key, options. */
function localRun(
  ctx: Pick<TrainContext, "key" | "domain" | "onStep">,
  task: TrainTask,
  inputs: TaskInputs,
): [Float32Array, LocalTask, TrainContext["key"], TrainLocalOptions] {
  const { spec, global, data, residual } = inputs;
  const codec = codecOf(spec, task);
  const local = roundTask(spec, task, ctx.domain, data);
  return [global, local, ctx.key, {
    encode: codec ? (delta) => codec.encode(delta, residual).bytes : undefined,
    // A node of a task group may be disputed by another: keep s_0..s_N to bisect over.
    recordSteps: (spec.verification?.redundancy ?? 1) > 1,
    onStep: (step, loss) => ctx.onStep?.({ step, steps: spec.localSteps, loss }),
  }];
}

function codecOf(spec: JobSpec, task: TrainTask) {
  return spec.compression
    ? codecFor(spec.compression, { jobSeed: spec.seed, round: task.round, slot: task.slot })
    : undefined;
}

/** The bytes uploaded for a round: the codec's payload, else the delta as a checkpoint. */
export function encodeUpdate(spec: JobSpec, round: number, result: LocalResult): Uint8Array {
  return result.payload ??
    encodeCheckpoint(spec.model, result.delta, { kind: "delta", round: String(round) });
}
