/**
 * Training past the 4 GiB of a 32-bit WASM memory. AssemblyScript 0.28 cannot target memory64,
 * so the state stays outside linear memory instead: weights, gradient and optimiser state are
 * host Float32Arrays (any size), and linear memory is a workspace holding the embeddings and
 * final norm, a one-layer window for the layer being computed (its parameters and gradient),
 * each layer's output (activation recomputation, on by default), one layer's activations and
 * their gradients, and a staging area through which the gradient norm and the optimiser update
 * stream in chunks. Every value is computed by the same ops in the same order as the resident
 * step (kernel/train_step.ts), so the bytes are identical; the copies are plain memcpy.
 *
 * ```ts
 * const kernel = await loadThreadedKernel({ threads: 2 });
 * const trainer = createOffloadTrainer(kernel, hyper, weights, initOptState("adamw", n));
 * const { loss } = trainer.step(batch, seed); // trainer.weights / optState / grad updated in place
 * ```
 */
import { createNetwork, type Network } from "./network.ts";
import { biasCorrection, type OptState } from "./optimizer.ts";
import { isLayerTensor, layerRange, type ParamLayout, paramLayout } from "./params.ts";
import { learningRate } from "./schedule.ts";
import {
  type Batch,
  checkBatch,
  type EvalLossFn,
  type Hyper,
  microSeed,
  type TrainStepFn,
} from "./train_step.ts";
import type { Kernel } from "./wasm_module.ts";

/** f32 per staging chunk of the norm and update passes (16 MiB per buffer). */
export const STAGE_CHUNK = 1 << 22;

export interface OffloadOptions {
  /** Activation recomputation (default true): see NetworkOptions.recompute. */
  recompute?: boolean;
  /** f32 per staging chunk (default STAGE_CHUNK). */
  chunk?: number;
}

export interface OffloadTrainer {
  readonly layout: ParamLayout;
  /** The weights, updated in place by each step (the array passed in). */
  readonly weights: Float32Array;
  /** The optimiser state, m and v updated in place, step counted. */
  readonly optState: OptState;
  /** The last step's mean gradient, before clipping. */
  readonly grad: Float32Array;
  /** Bytes of linear memory the trainer occupies (network + staging). */
  readonly wasmBytes: number;
  /** One step on `batch`: same arithmetic as trainStep, state updated in place. */
  step(batch: Batch, seed: number): { loss: number; gradNorm: number; lr: number };
  /** Mean loss of `batch` under the current weights, as createTrainer's evalLoss computes it. */
  evalLoss(batch: Batch, seed?: number): number;
}

/**
 * A trainer that owns `weights` and `optState` (mutated in place; pass copies to keep them) and
 * keeps them, with the gradient, outside the kernel's linear memory.
 */
export function createOffloadTrainer(
  kernel: Kernel,
  hyper: Hyper,
  weights: Float32Array,
  optState: OptState,
  options: OffloadOptions = {},
): OffloadTrainer {
  const layout = paramLayout(hyper.model);
  const P = layout.size;
  const adam = optState.kind === "adamw";
  if (weights.length !== P) {
    throw new RangeError(`Cannot create trainer: weights have ${weights.length}, model needs ${P}`);
  }
  if (optState.kind !== hyper.optimizer.kind) {
    throw new TypeError(
      `Cannot create trainer: state is ${optState.kind}, optimizer is ${hyper.optimizer.kind}`,
    );
  }
  if (optState.m.length !== P || optState.v.length !== (adam ? P : 0)) {
    throw new RangeError(`Cannot create trainer: optimizer state does not match ${P} parameters`);
  }
  const grad = new Float32Array(P);
  const chunk = options.chunk ?? STAGE_CHUNK;
  const layerAt = (l: number) => layerRange(layout, l);
  let micro = 0;
  const start = kernel.mark();
  const net: Network = createNetwork(kernel, layout, hyper.B, hyper.T, hyper.dropout ?? 0, {
    recompute: options.recompute ?? true,
    offload: {
      loadParams: (l, dst) => {
        const { offset, size } = layerAt(l);
        kernel.f32(dst, size).set(weights.subarray(offset, offset + size));
      },
      loadGrads: (l, dst) => {
        const { offset, size } = layerAt(l);
        if (micro === 0) kernel.ops.fillZero(dst, size);
        else kernel.f32(dst, size).set(grad.subarray(offset, offset + size));
      },
      storeGrads: (l, src) => grad.set(kernel.f32(src, layerAt(l).size), layerAt(l).offset),
    },
  });
  const stage = { p: kernel.alloc(chunk), g: kernel.alloc(chunk), m: 0, v: 0 };
  stage.m = kernel.alloc(chunk);
  stage.v = kernel.alloc(adam ? chunk : 0);
  const wasmBytes = kernel.mark() - start;
  // The tensors outside the layers, resident in the network's own buffers, in layout order.
  const resident: { offset: number; size: number; at: number }[] = [];
  let at = 0;
  for (const t of layout.tensors) {
    if (isLayerTensor(t.name)) continue;
    resident.push({ offset: t.offset, size: t.size, at });
    at += t.size;
  }

  /** The norm pass: f64 sum of squares over the whole gradient in layout order, as sumSquares. */
  function gradNormOf(): number {
    let s = 0;
    for (let i = 0; i < P; i += chunk) {
      const n = Math.min(chunk, P - i);
      kernel.f32(stage.g, n).set(grad.subarray(i, i + n));
      s = kernel.ops.sumSquaresFrom(stage.g, n, s);
    }
    return Math.sqrt(s);
  }

  /** The update pass, tensor by tensor and chunk by chunk: applyUpdate's ops on each element. */
  function update(scale: number, lr: number, step: number): void {
    const o = kernel.ops;
    const cfg = hyper.optimizer;
    const bc1 = cfg.kind === "adamw" ? biasCorrection(cfg.beta1, step) : 0;
    const bc2 = cfg.kind === "adamw" ? biasCorrection(cfg.beta2, step) : 0;
    for (const t of layout.tensors) {
      const wd = t.decay ? cfg.weightDecay : 0;
      for (let i = t.offset; i < t.offset + t.size; i += chunk) {
        const n = Math.min(chunk, t.offset + t.size - i);
        const host = [weights, grad, optState.m, optState.v].map((a) => a.subarray(i, i + n));
        kernel.f32(stage.p, n).set(host[0]!);
        kernel.f32(stage.g, n).set(host[1]!);
        kernel.f32(stage.m, n).set(host[2]!);
        if (cfg.kind === "adamw") {
          kernel.f32(stage.v, n).set(host[3]!);
          if (scale !== 1) o.scaleInPlace(stage.g, n, scale);
          const { beta1, beta2, eps } = cfg;
          o.adamwUpdate(stage.p, stage.g, stage.m, stage.v, n, lr, beta1, beta2, eps, wd, bc1, bc2);
          host[3]!.set(kernel.f32(stage.v, n));
        } else {
          if (scale !== 1) o.scaleInPlace(stage.g, n, scale);
          o.sgdMomentumUpdate(stage.p, stage.g, stage.m, n, lr, cfg.momentum, wd);
        }
        host[0]!.set(kernel.f32(stage.p, n));
        host[2]!.set(kernel.f32(stage.m, n));
      }
    }
  }

  function loadResident(): void {
    for (const r of resident) {
      kernel.f32(net.params + r.at * 4, r.size).set(weights.subarray(r.offset, r.offset + r.size));
    }
  }

  function loadMicroBatch(batch: Batch, m: number): void {
    const BT = hyper.B * hyper.T;
    kernel.i32(net.tokens, BT).set(batch.tokens.subarray(m * BT, (m + 1) * BT));
    kernel.i32(net.targets, BT).set(batch.targets.subarray(m * BT, (m + 1) * BT));
  }

  function evalLoss(batch: Batch, seed?: number): number {
    checkBatch(batch, hyper);
    loadResident();
    let sum = 0;
    for (let m = 0; m < hyper.accumSteps; m++) {
      loadMicroBatch(batch, m);
      sum += net.forward(seed === undefined ? undefined : microSeed(seed, m));
    }
    return sum / (hyper.accumSteps * hyper.B * hyper.T);
  }

  function step(batch: Batch, seed: number): { loss: number; gradNorm: number; lr: number } {
    checkBatch(batch, hyper);
    const positions = hyper.accumSteps * hyper.B * hyper.T;
    loadResident();
    kernel.ops.fillZero(net.grads, net.residentSize);
    let lossSum = 0;
    for (micro = 0; micro < hyper.accumSteps; micro++) {
      loadMicroBatch(batch, micro);
      lossSum += net.forward(microSeed(seed, micro));
      net.backward(1 / positions);
    }
    for (const r of resident) grad.set(kernel.f32(net.grads + r.at * 4, r.size), r.offset);
    const gradNorm = gradNormOf();
    const clip = hyper.gradClip;
    // clipGradNorm's rule; the scale is applied to staged chunks, so `grad` stays unclipped.
    const scale = clip > 0 && gradNorm > clip ? clip / gradNorm : 1;
    const lr = learningRate((hyper.scheduleOffset ?? 0) + optState.step, hyper.schedule);
    optState.step += 1;
    update(scale, lr, optState.step);
    return { loss: lossSum / positions, gradNorm, lr };
  }

  return { layout, weights, optState, grad, wasmBytes, step, evalLoss };
}

/**
 * The offload trainer behind createTrainer's interface (`trainStep` with fresh outputs, inputs
 * untouched), so the worker's round code runs it unchanged: each step copies the weights and
 * optimiser state once, trains the copies in place and hands them back, and frees its linear
 * memory workspace afterwards (a 124M model's workspace is rebuilt in milliseconds, while keeping
 * one per shape would pin it for the worker's life).
 *
 * @example
 * ```ts
 * import { createOffloadStep } from "./offload.ts";
 * import { loadKernel } from "./wasm_module.ts";
 * const { trainStep, evalLoss } = createOffloadStep(loadKernel());
 * console.assert(typeof trainStep === "function" && typeof evalLoss === "function");
 * ```
 */
export function createOffloadStep(
  kernel: Kernel,
  options: OffloadOptions = {},
): { trainStep: TrainStepFn; evalLoss: EvalLossFn } {
  function within<T>(run: () => T): T {
    const mark = kernel.mark();
    try {
      return run();
    } finally {
      kernel.release(mark);
    }
  }
  const trainStep: TrainStepFn = (weights, optState, batch, seed, hyper) =>
    within(() => {
      const state: OptState = { ...optState, m: optState.m.slice(), v: optState.v.slice() };
      const t = createOffloadTrainer(kernel, hyper, weights.slice(), state, options);
      const r = t.step(batch, seed);
      return { weights: t.weights, optState: t.optState, grad: t.grad, ...r };
    });
  const evalLoss: EvalLossFn = (weights, batch, hyper, seed) =>
    within(() => {
      const P = weights.length;
      const state: OptState = {
        kind: hyper.optimizer.kind,
        step: 0,
        m: new Float32Array(P),
        v: new Float32Array(hyper.optimizer.kind === "adamw" ? P : 0),
      };
      return createOffloadTrainer(kernel, hyper, weights, state, options).evalLoss(batch, seed);
    });
  return { trainStep, evalLoss };
}
