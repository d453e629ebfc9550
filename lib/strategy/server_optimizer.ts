/**
 * The server optimizer a job's `aggregation` names: how the round's combined delta moves the
 * global weights. `fedavg` adds it (no optimizer); the others treat `-delta` as a
 * pseudo-gradient: `fedavgm` SGD with momentum (Hsu et al. 2019), `diloco` SGD with Nesterov
 * momentum (Douillard et al. 2023, {@link OuterOptimizer}), `fedadam`/`fedyogi` adaptive moments
 * (Reddi et al. 2021, {@link ServerAdam}). One place maps the spec to an optimizer, so the
 * coordinator (lib/coordinator/round_apply.ts) and the benchmarks run the same step.
 *
 * @example
 * ```ts
 * import { serverOptimizerFor } from "./server_optimizer.ts";
 * const opt = serverOptimizerFor({ strategy: "fedavgm" }, 2)!;
 * const w = new Float32Array([0, 0]);
 * opt.step(w, new Float32Array([1, 1])); // v = -1, w = 0 - 1 * v = 1
 * opt.step(w, new Float32Array([1, 1])); // v = 0.9 * -1 - 1 = -1.9, w = 1 + 1.9
 * console.assert(w[0] === Math.fround(2.9) && Object.keys(opt.state()).join() === "velocity");
 * ```
 *
 * @module
 */
import type { JobSpec } from "../job/job_spec.ts";
import { DILOCO_OUTER_LR, DILOCO_OUTER_MOMENTUM, OuterOptimizer } from "./outer_optimizer.ts";
import { ServerAdam } from "./server_adam.ts";

/** The aggregation fields a server optimizer reads. */
export type ServerOptimizerConfig = Pick<
  JobSpec["aggregation"],
  | "strategy"
  | "outerLr"
  | "outerMomentum"
  | "outerNesterov"
  | "outerBeta1"
  | "outerBeta2"
  | "outerTau"
  | "outerBiasCorrection"
  | "outerWarmupRounds"
>;

/** A server optimizer with its state as named Float32Arrays (what a checkpoint stores). */
export interface ServerOptimizer {
  /** Moves `weights` in place by one server step from the round's combined delta. */
  step(weights: Float32Array, aggregatedDelta: Float32Array): void;
  /** Steps taken. */
  readonly steps: number;
  /** The state buffers by name (views, not copies). */
  state(): Record<string, Float32Array>;
  /** Restores state written by `state()` and the step count. */
  load(state: Record<string, Float32Array>, steps: number): void;
}

/** Defaults of the momentum rules: DiLoCo's published outer lr and momentum; FedAvgM's lr 1. */
export const SERVER_DEFAULTS = {
  diloco: { lr: DILOCO_OUTER_LR, momentum: DILOCO_OUTER_MOMENTUM, nesterov: true },
  fedavgm: { lr: 1, momentum: 0.9, nesterov: false },
} as const;

/**
 * The optimizer of `config` over `numParams` weights, or undefined for plain FedAvg.
 *
 * @throws {RangeError} on an out-of-range field, or fedadam/fedyogi without `outerLr`
 */
export function serverOptimizerFor(
  config: ServerOptimizerConfig,
  numParams: number,
): ServerOptimizer | undefined {
  switch (config.strategy) {
    case "fedavg":
      return undefined;
    case "diloco":
    case "fedavgm": {
      const d = SERVER_DEFAULTS[config.strategy];
      const outer = new OuterOptimizer(numParams, {
        lr: config.outerLr ?? d.lr,
        momentum: config.outerMomentum ?? d.momentum,
        nesterov: config.outerNesterov ?? d.nesterov,
        warmupSteps: config.outerWarmupRounds,
      });
      return {
        step: (w, delta) => outer.step(w, delta),
        get steps() {
          return outer.steps;
        },
        state: () => ({ velocity: outer.velocity }),
        load: (state, steps) => outer.load(named(state, "velocity"), steps),
      };
    }
    case "fedadam":
    case "fedyogi": {
      if (config.outerLr === undefined) {
        throw new RangeError(`Cannot create optimizer: ${config.strategy} needs outerLr`);
      }
      const adam = new ServerAdam(numParams, {
        lr: config.outerLr,
        beta1: config.outerBeta1,
        beta2: config.outerBeta2,
        tau: config.outerTau,
        variant: config.strategy === "fedyogi" ? "yogi" : "adam",
        biasCorrection: config.outerBiasCorrection,
        warmupSteps: config.outerWarmupRounds,
      });
      return {
        step: (w, delta) => adam.step(w, delta),
        get steps() {
          return adam.steps;
        },
        state: () => ({ m: adam.m, v: adam.v }),
        load: (state, steps) => adam.load(named(state, "m"), named(state, "v"), steps),
      };
    }
    default:
      throw new RangeError(`Cannot create optimizer: unknown strategy ${config.strategy}`);
  }
}

function named(state: Record<string, Float32Array>, name: string): Float32Array {
  const buf = state[name];
  if (!buf) throw new RangeError(`Cannot load optimizer state: no "${name}" buffer`);
  return buf;
}
