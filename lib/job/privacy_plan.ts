/**
 * A job's privacy as its data owners see it, planned before anything is escrowed. The unit of
 * privacy is the data owner (one shard): every update trained on a shard carries that owner's
 * data, so when `m` counted updates of a round come from one shard its sensitivity in the
 * round's clipped sum is `m x clip` and the Gaussian noise protects it like a noise multiplier
 * of `z / m`. The owner with the most copies per round is the one whose epsilon the job reports
 * and whose budget it may not exceed.
 *
 * @module
 */
import { RdpAccountant } from "../privacy/rdp_accountant.ts";
import type { JobSpec } from "./job_spec.ts";

/** What a privacy plan reads of a job spec (shards only by number). */
export interface PrivacyPlanSpec {
  rounds: number;
  shards: readonly unknown[];
  verification?: { redundancy: number };
  privacy?: JobSpec["privacy"];
}

/** Thrown when a job's planned rounds would spend more than its privacy budget. */
export class PrivacyBudgetError extends Error {
  /** Stable code, as the coordinator answers it. */
  readonly code = "PRIVACY_BUDGET_EXCEEDED";
  /** Epsilon the worst-off data owner would reach. */
  readonly epsilon: number;
  /** The budget. */
  readonly maxEpsilon: number;

  /** @param details what the plan reaches and what the budget allows */
  constructor(details: { epsilon: number; maxEpsilon: number; why: string }) {
    super(`Cannot plan the job: ${details.why}`);
    this.name = "PrivacyBudgetError";
    this.epsilon = details.epsilon;
    this.maxEpsilon = details.maxEpsilon;
  }
}

/**
 * Most counted updates one shard can have in a round with `nodes` nodes: each task group counts
 * once (redundant copies agree and one enters), and tasks go round-robin over the shards.
 *
 * @example
 * ```ts
 * import { copiesPerRound } from "./privacy_plan.ts";
 * const spec = { shards: [{}, {}], verification: undefined } as never;
 * console.assert(copiesPerRound(spec, 4) === 2 && copiesPerRound(spec, 2) === 1);
 * ```
 */
export function copiesPerRound(
  spec: Pick<PrivacyPlanSpec, "shards" | "verification">,
  nodes: number,
): number {
  if (!Number.isInteger(nodes) || nodes < 1) {
    throw new RangeError(`Cannot plan copies: nodes ${nodes} is not a positive integer`);
  }
  const tasks = Math.ceil(nodes / (spec.verification?.redundancy ?? 1));
  return Math.ceil(tasks / spec.shards.length);
}

/**
 * Epsilon the worst-off data owner spends over `spec.rounds` rounds with `nodes` nodes
 * (0 without a privacy policy).
 *
 * @example
 * ```ts
 * import { plannedEpsilon } from "./privacy_plan.ts";
 * const privacy = { clip: 1, noiseMultiplier: 1.1, delta: 1e-5, maxEpsilon: 100 };
 * const spec = { rounds: 5, shards: [{}], privacy } as never;
 * console.assert(plannedEpsilon(spec, 2) > plannedEpsilon(spec, 1));
 * ```
 */
export function plannedEpsilon(
  spec: PrivacyPlanSpec,
  nodes: number,
): number {
  const p = spec.privacy;
  if (!p) return 0;
  const z = p.noiseMultiplier / copiesPerRound(spec, nodes);
  return new RdpAccountant({ delta: p.delta }).epsilonAfter(1, z, spec.rounds);
}

/**
 * Refuses a plan whose worst-off data owner would exceed the budget: the owner calls it before
 * escrowing, the coordinator again before assigning anyone.
 *
 * @throws {PrivacyBudgetError} with the epsilon reached and what to change
 */
export function checkPrivacyBudget(
  spec: PrivacyPlanSpec,
  nodes: number,
): void {
  const p = spec.privacy;
  if (!p) return;
  const epsilon = plannedEpsilon(spec, nodes);
  if (epsilon <= p.maxEpsilon) return;
  const copies = copiesPerRound(spec, nodes);
  const why =
    `${spec.rounds} rounds at noise ${p.noiseMultiplier} with ${nodes} nodes over ${spec.shards.length} shards (${copies} updates per data owner per round) spend epsilon ${
      epsilon.toFixed(2)
    } > budget ${p.maxEpsilon}; raise the noise, or use fewer rounds or nodes`;
  throw new PrivacyBudgetError({ epsilon, maxEpsilon: p.maxEpsilon, why });
}
