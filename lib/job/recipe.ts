/**
 * Training recipes a job owner picks by name, as {@link PrepareJobOptions} fields. `synchronous`
 * is the quality end of the trade between rounds and loss that bench/federated_quality.ts
 * measured: each round every node takes one SGD step at lr 1 (so its update is its clipped
 * gradient on B sequences) and the server applies Adam, bias-corrected, to the round's averaged
 * gradient (FedAdam with `outerBiasCorrection`). That is centralized AdamW at the nodes' combined
 * batch: at equal samples it ended within 1% of the best centralized run on both reference jobs,
 * where FedAvg with local steps ends 12-16% short, but it needs one round per step: a job of N
 * samples a node takes N / B rounds instead of N / (B x localSteps). The server lr warms up over
 * the first 5% of the rounds: Adam's first steps rest on a handful of gradients, and on the bench
 * job the warmup took the recipe from 1.014 to 1.007 of the centralized loss.
 *
 * @example
 * ```ts
 * import { synchronousRecipe } from "./recipe.ts";
 * const r = synchronousRecipe(400);
 * console.assert(r.localSteps === 1 && r.strategy === "fedadam" && r.outer.outerLr === 3e-3);
 * console.assert(r.outer.outerWarmupRounds === 20);
 * ```
 *
 * @module
 */
import type { PrepareJobOptions } from "./job_owner.ts";

/** The server Adam's lr of {@link synchronousRecipe}: the best measured, with its warmup. */
export const SYNCHRONOUS_SERVER_LR = 3e-3;

/** The share of a synchronous job's rounds over which the server lr warms up. */
export const SYNCHRONOUS_WARMUP = 0.05;

/**
 * The synchronous recipe's options for a job of `rounds` rounds: one local SGD step at lr 1
 * without weight decay, FedAdam with Adam's bias correction and AdamW's betas (0.9, 0.95) at
 * `serverLr`, warmed up over `warmupShare` of the rounds ({@link SYNCHRONOUS_WARMUP}; 0: none).
 *
 * @throws {RangeError} when `rounds` is not a positive integer or `warmupShare` not in [0, 1]
 */
export function synchronousRecipe(
  rounds: number,
  serverLr = SYNCHRONOUS_SERVER_LR,
  warmupShare = SYNCHRONOUS_WARMUP,
): Required<
  Pick<PrepareJobOptions, "localSteps" | "optimizer" | "lr" | "minLrRatio" | "strategy" | "outer">
> {
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new RangeError(`Cannot build the synchronous recipe: rounds ${rounds} is not >= 1`);
  }
  if (!(warmupShare >= 0 && warmupShare <= 1)) {
    throw new RangeError(
      `Cannot build the synchronous recipe: warmupShare ${warmupShare} is not in [0, 1]`,
    );
  }
  return {
    localSteps: 1,
    optimizer: "sgd",
    lr: 1,
    minLrRatio: 1,
    strategy: "fedadam",
    outer: {
      outerLr: serverLr,
      outerBeta2: 0.95,
      outerTau: 1e-6,
      outerBiasCorrection: true,
      outerWarmupRounds: Math.ceil(warmupShare * rounds),
    },
  };
}
