/**
 * Optimisers (AdamW, SGD with momentum) and global-norm gradient clipping. The arithmetic runs in
 * the kernel; this module keeps the state format and the per-tensor weight-decay policy.
 */
import type { ParamLayout } from "./params.ts";
import type { Kernel } from "./wasm_module.ts";

export type OptimizerConfig =
  | { kind: "adamw"; beta1: number; beta2: number; eps: number; weightDecay: number }
  | { kind: "sgd"; momentum: number; weightDecay: number };

/** Optimiser state: `step` updates taken; AdamW uses m and v, SGD uses m as its momentum. */
/**
 * The AdamW settings every job and tool starts from (GPT-2/nanoGPT betas and epsilon; a light
 * weight decay, as the federated jobs use). A caller that wants another value overrides the field.
 */
export const DEFAULT_ADAMW = {
  kind: "adamw",
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.01,
} as const satisfies OptimizerConfig;

/** SGD with momentum as the jobs use it. */
export const DEFAULT_SGD_MOMENTUM = 0.9;

export interface OptState {
  kind: OptimizerConfig["kind"];
  step: number;
  m: Float32Array;
  v: Float32Array;
}

/** Fresh state for `size` parameters. */
export function initOptState(kind: OptimizerConfig["kind"], size: number): OptState {
  return {
    kind,
    step: 0,
    m: new Float32Array(size),
    v: new Float32Array(kind === "adamw" ? size : 0),
  };
}

/** 1 - beta^t by repeated multiplication, so it is exact-rounded the same everywhere. */
export function biasCorrection(beta: number, t: number): number {
  let p = 1;
  for (let i = 0; i < t; i++) p *= beta;
  return 1 - p;
}

/**
 * Scales gradients in place so their global L2 norm is at most maxNorm (no-op if maxNorm <= 0).
 * Returns the norm before clipping.
 */
export function clipGradNorm(kernel: Kernel, grads: number, n: number, maxNorm: number): number {
  const norm = Math.sqrt(kernel.ops.sumSquares(grads, n));
  if (maxNorm > 0 && norm > maxNorm) kernel.ops.scaleInPlace(grads, n, maxNorm / norm);
  return norm;
}

/**
 * One optimiser update over all tensors: params -= f(grads). `step` is the 1-based update count.
 * Pointers are kernel byte pointers to flat buffers laid out by `layout`.
 */
export function applyUpdate(
  kernel: Kernel,
  layout: ParamLayout,
  ptrs: { params: number; grads: number; m: number; v: number },
  cfg: OptimizerConfig,
  lr: number,
  step: number,
): void {
  const o = kernel.ops;
  const bc1 = cfg.kind === "adamw" ? biasCorrection(cfg.beta1, step) : 0;
  const bc2 = cfg.kind === "adamw" ? biasCorrection(cfg.beta2, step) : 0;
  for (const t of layout.tensors) {
    const off = t.offset * 4;
    const wd = t.decay ? cfg.weightDecay : 0;
    if (cfg.kind === "adamw") {
      o.adamwUpdate(
        ptrs.params + off,
        ptrs.grads + off,
        ptrs.m + off,
        ptrs.v + off,
        t.size,
        lr,
        cfg.beta1,
        cfg.beta2,
        cfg.eps,
        wd,
        bc1,
        bc2,
      );
    } else {
      o.sgdMomentumUpdate(
        ptrs.params + off,
        ptrs.grads + off,
        ptrs.m + off,
        t.size,
        lr,
        cfg.momentum,
        wd,
      );
    }
  }
}
