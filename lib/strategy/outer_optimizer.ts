/**
 * DiLoCo-style outer optimizer (Douillard et al. 2023): the round's aggregated delta is an
 * outer step in the wrong sign, so the pseudo-gradient is `g = -delta` (old global weights
 * minus the averaged local weights), and the global weights move by SGD with Nesterov
 * momentum, as PyTorch's `SGD(nesterov=True)`:
 *
 *     v = momentum * v + g
 *     w = w - lr * (g + momentum * v)      (nesterov)   or   w = w - lr * v   (classic)
 *
 * Plain FedAvg is the special case lr = 1, momentum = 0: `w = w + delta` (tested bit for bit).
 * Defaults follow DiLoCo: lr 0.7, momentum 0.9, Nesterov. State is one Float32Array (O(params)).
 * Each element is computed in f64 from f32 inputs and rounded to f32 at the end, with no
 * fused multiply-add in JavaScript, so the step is bit-identical on every machine.
 *
 * @example
 * ```ts
 * import { OuterOptimizer } from "./outer_optimizer.ts";
 * const weights = new Float32Array([1, 1]);
 * const fedAvg = new OuterOptimizer(2, { lr: 1, momentum: 0 });
 * fedAvg.step(weights, new Float32Array([0.5, -0.25]));
 * console.log(weights); // Float32Array [1.5, 0.75]
 * ```
 *
 * @module
 */

import { checkWarmup, warmedLr } from "../../kernel/schedule.ts";

/** DiLoCo's published outer learning rate (Douillard et al. 2023). */
export const DILOCO_OUTER_LR = 0.7;
/** DiLoCo's published outer momentum (Douillard et al. 2023). */
export const DILOCO_OUTER_MOMENTUM = 0.9;

/** Options of {@link OuterOptimizer}. */
export interface OuterOptimizerOptions {
  /** Outer learning rate (default 0.7, DiLoCo). */
  lr?: number;
  /** Momentum factor in [0, 1) (default 0.9). */
  momentum?: number;
  /** Nesterov look-ahead (default true). */
  nesterov?: boolean;
  /** Steps of linear lr warmup (default 0), as {@link ServerAdam}'s. */
  warmupSteps?: number;
}

/** SGD with (Nesterov) momentum over pseudo-gradients `-aggregatedDelta`. */
export class OuterOptimizer {
  readonly lr: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly warmupSteps: number;
  #v: Float32Array;
  #steps = 0;

  constructor(numParams: number, options: OuterOptimizerOptions = {}) {
    if (!Number.isInteger(numParams) || numParams <= 0) {
      throw new RangeError(`Cannot create optimizer: numParams ${numParams} is not positive`);
    }
    this.lr = options.lr ?? DILOCO_OUTER_LR;
    this.momentum = options.momentum ?? DILOCO_OUTER_MOMENTUM;
    this.nesterov = options.nesterov ?? true;
    this.warmupSteps = checkWarmup(options.warmupSteps ?? 0);
    if (!(this.lr > 0) || !Number.isFinite(this.lr)) {
      throw new RangeError(`Cannot create optimizer: lr ${this.lr} is not positive`);
    }
    if (!(this.momentum >= 0 && this.momentum < 1)) {
      throw new RangeError(`Cannot create optimizer: momentum ${this.momentum} not in [0, 1)`);
    }
    this.#v = new Float32Array(numParams);
  }

  /** Outer steps taken. */
  get steps(): number {
    return this.#steps;
  }

  /** The momentum buffer (checkpoint it with the weights to resume exactly). */
  get velocity(): Float32Array {
    return this.#v;
  }

  /** Restores a checkpointed momentum buffer and step count. */
  load(velocity: Float32Array, steps: number): void {
    if (velocity.length !== this.#v.length) {
      throw new RangeError(`Cannot load: velocity length ${velocity.length} != ${this.#v.length}`);
    }
    this.#v.set(velocity);
    this.#steps = steps;
  }

  /** Applies one outer step to `weights` in place, from the round's aggregated delta. */
  step(weights: Float32Array, aggregatedDelta: Float32Array): void {
    const v = this.#v;
    if (weights.length !== v.length || aggregatedDelta.length !== v.length) {
      throw new RangeError(
        `Cannot step: lengths ${weights.length}/${aggregatedDelta.length} != ${v.length}`,
      );
    }
    const { momentum: mu, nesterov } = this;
    const lr = warmedLr(this.lr, this.#steps, this.warmupSteps);
    for (let i = 0; i < v.length; i++) {
      const g = -aggregatedDelta[i]!;
      const vi = Math.fround(mu * v[i]! + g);
      v[i] = vi;
      const update = nesterov ? g + mu * vi : vi;
      weights[i] = weights[i]! - lr * update;
    }
    this.#steps++;
  }
}
