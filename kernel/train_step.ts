/**
 * The training step as a pure function:
 *   trainStep(weights, optState, batch, seed, hyper) -> { weights, optState, loss, grad, ... }
 * Inputs are never mutated and outputs are fresh arrays; the kernel's linear memory is only a
 * workspace that is fully overwritten (params, optimizer state, inputs) or zeroed (gradients,
 * activation gradients) before use, so equal inputs give bit-identical outputs on any machine.
 */
import { createNetwork, type Network } from "./network.ts";
import { applyUpdate, clipGradNorm, type OptimizerConfig, type OptState } from "./optimizer.ts";
import { type ModelConfig, paramLayout } from "./params.ts";
import { learningRate, type ScheduleConfig } from "./schedule.ts";
import { type Kernel, loadKernel } from "./wasm_module.ts";

export interface Hyper {
  model: ModelConfig;
  /** Sequences per micro-batch and tokens per sequence. */
  B: number;
  T: number;
  /** Micro-batches per step; gradients are averaged over all accumSteps * B * T positions. */
  accumSteps: number;
  schedule: ScheduleConfig;
  /**
   * Steps taken before this optimizer state started (default 0): the schedule is read at
   * `scheduleOffset + optState.step`, so a federated node whose AdamW state starts fresh every
   * round still follows one warmup + cosine over the job's global steps.
   */
  scheduleOffset?: number;
  optimizer: OptimizerConfig;
  /** Global gradient-norm clip; 0 disables. */
  gradClip: number;
  /** Residual dropout rate (default 0); its masks are drawn from the step's seed. */
  dropout?: number;
}

/** accumSteps * B * T input tokens and the next-token targets for each. */
export interface Batch {
  tokens: Int32Array;
  targets: Int32Array;
}

export interface StepResult {
  weights: Float32Array;
  optState: OptState;
  /** Mean cross-entropy (nats) over the batch, before the update. */
  loss: number;
  /** Mean gradient over the batch, before clipping. */
  grad: Float32Array;
  gradNorm: number;
  lr: number;
}

interface Workspace {
  net: Network;
  m: number;
  v: number;
}

export type TrainStepFn = (
  weights: Float32Array,
  optState: OptState,
  batch: Batch,
  seed: number,
  hyper: Hyper,
) => StepResult;

/**
 * Mean loss of `batch` under `weights`, without touching gradients. Inference (no dropout)
 * unless `seed` is given, in which case the dropout masks are exactly those trainStep draws.
 */
export type EvalLossFn = (
  weights: Float32Array,
  batch: Batch,
  hyper: Hyper,
  seed?: number,
) => number;

/** Each micro-batch gets its own dropout seed, derived only from the step seed (integer ops). */
export function microSeed(seed: number, micro: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) + micro) >>> 0;
}

/** Throws RangeError unless `batch` holds accumSteps * B * T byte tokens and targets. */
export function checkBatch(batch: Batch, hyper: Hyper): void {
  const need = hyper.accumSteps * hyper.B * hyper.T;
  if (batch.tokens.length !== need || batch.targets.length !== need) {
    throw new RangeError(`Cannot run step: batch must hold ${need} tokens and targets`);
  }
  for (const ids of [batch.tokens, batch.targets]) {
    for (const x of ids) {
      if (x < 0 || x > 255) throw new RangeError(`Cannot run step: token ${x} is not a byte`);
    }
  }
}

/** Options of a trainer. */
export interface TrainerOptions {
  /**
   * Recompute each layer's activations in the backward pass instead of keeping them (gradient
   * checkpointing: less memory, about a third more compute, identical bits).
   */
  recompute?: boolean;
}

/**
 * The key of a workspace's shape: what createNetwork and the optimizer buffers depend on, field by
 * field, so two equal configs whose keys were written in another order share one workspace.
 */
function shapeKey(hyper: Hyper): string {
  const { kind, maxT, layers, heads, width } = hyper.model;
  const dropout = hyper.dropout ?? 0;
  return JSON.stringify([
    kind,
    maxT,
    layers,
    heads,
    width,
    hyper.B,
    hyper.T,
    dropout > 0 ? dropout : 0,
  ]);
}

/**
 * Binds the step to one kernel instance (one per thread). The workspace of the last shape trained
 * is kept for the next step; a step of another shape frees it first. Found in the kernel audit: a
 * workspace kept per shape, never freed, let a job owner fill a long-running worker's 4 GiB memory
 * with a few jobs of different batch sizes, after which every job failed on it.
 */
export function createTrainer(
  kernel: Kernel,
  options: TrainerOptions = {},
): { trainStep: TrainStepFn; evalLoss: EvalLossFn; release: () => void } {
  /** The workspace, its shape, and the allocator marks before and after it. */
  let current: { key: string; ws: Workspace; start: number; end: number } | undefined;

  function workspace(hyper: Hyper): Workspace {
    const key = shapeKey(hyper);
    if (current?.key === key) return current.ws;
    release();
    const start = kernel.mark();
    try {
      const layout = paramLayout(hyper.model);
      const net = createNetwork(kernel, layout, hyper.B, hyper.T, hyper.dropout ?? 0, {
        recompute: options.recompute,
      });
      const ws = { net, m: kernel.alloc(layout.size), v: kernel.alloc(layout.size) };
      current = { key, ws, start, end: kernel.mark() };
      return ws;
    } catch (err) {
      kernel.release(start); // a half-built workspace (memory.grow refused) is freed, not kept
      throw err;
    }
  }

  function loadWeights(ws: Workspace, weights: Float32Array): void {
    const { net } = ws;
    if (weights.length !== net.layout.size) {
      throw new RangeError(
        `Cannot run step: weights have ${weights.length} values, model needs ${net.layout.size}`,
      );
    }
    kernel.f32(net.params, weights.length).set(weights);
  }

  function loadMicroBatch(ws: Workspace, batch: Batch, micro: number): void {
    const { net } = ws;
    const n = net.B * net.T;
    kernel.i32(net.tokens, n).set(batch.tokens.subarray(micro * n, (micro + 1) * n));
    kernel.i32(net.targets, n).set(batch.targets.subarray(micro * n, (micro + 1) * n));
  }

  function trainStep(
    weights: Float32Array,
    optState: OptState,
    batch: Batch,
    seed: number,
    hyper: Hyper,
  ): StepResult {
    checkBatch(batch, hyper);
    if (optState.kind !== hyper.optimizer.kind) {
      throw new TypeError(
        `Cannot run step: state is ${optState.kind}, optimizer is ${hyper.optimizer.kind}`,
      );
    }
    const ws = workspace(hyper);
    const { net } = ws;
    const P = net.layout.size;
    const adam = optState.kind === "adamw";
    if (optState.m.length !== P || optState.v.length !== (adam ? P : 0)) {
      throw new RangeError(`Cannot run step: optimizer state does not match ${P} parameters`);
    }
    const positions = hyper.accumSteps * net.B * net.T;
    kernel.ops.fillZero(net.grads, P);
    loadWeights(ws, weights);
    let lossSum = 0;
    for (let micro = 0; micro < hyper.accumSteps; micro++) {
      loadMicroBatch(ws, batch, micro);
      lossSum += net.forward(microSeed(seed, micro));
      net.backward(1 / positions);
    }
    const grad = kernel.f32(net.grads, P).slice();
    const gradNorm = clipGradNorm(kernel, net.grads, P, hyper.gradClip);
    kernel.f32(ws.m, P).set(optState.m);
    if (adam) kernel.f32(ws.v, P).set(optState.v);
    const lr = learningRate((hyper.scheduleOffset ?? 0) + optState.step, hyper.schedule);
    const step = optState.step + 1;
    applyUpdate(
      kernel,
      net.layout,
      { params: net.params, grads: net.grads, m: ws.m, v: ws.v },
      hyper.optimizer,
      lr,
      step,
    );
    return {
      weights: kernel.f32(net.params, P).slice(),
      optState: {
        kind: optState.kind,
        step,
        m: kernel.f32(ws.m, P).slice(),
        v: adam ? kernel.f32(ws.v, P).slice() : new Float32Array(0),
      },
      loss: lossSum / positions,
      grad,
      gradNorm,
      lr,
    };
  }

  function evalLoss(weights: Float32Array, batch: Batch, hyper: Hyper, seed?: number): number {
    checkBatch(batch, hyper);
    const ws = workspace(hyper);
    loadWeights(ws, weights);
    let sum = 0;
    for (let micro = 0; micro < hyper.accumSteps; micro++) {
      loadMicroBatch(ws, batch, micro);
      sum += ws.net.forward(seed === undefined ? undefined : microSeed(seed, micro));
    }
    return sum / (hyper.accumSteps * hyper.B * hyper.T);
  }

  /**
   * Frees the workspace kept for the next step, while it is the kernel's last allocation: anything
   * allocated on this kernel after it (another trainer's workspace, a forward pass's networks)
   * still lives above it, and releasing to its start would hand that memory out twice. A trainer
   * sharing the kernel calls it before its own step (lib/worker/train.ts sizedTrainer).
   */
  function release(): void {
    if (current && kernel.mark() === current.end) kernel.release(current.start);
    current = undefined;
  }

  return { trainStep, evalLoss, release };
}

let defaultTrainer: ReturnType<typeof createTrainer> | undefined;

/** trainStep on the committed kernel.wasm (loaded on first use). */
export const trainStep: TrainStepFn = (weights, optState, batch, seed, hyper) =>
  (defaultTrainer ??= createTrainer(loadKernel())).trainStep(weights, optState, batch, seed, hyper);
