/**
 * The round's combine step, the one path the coordinator, the simulator and the benchmarks
 * aggregate through: stale updates are down-weighted (FedBuff's s(tau) = 1/sqrt(1+tau)), the
 * updates are combined by the plan's rule (streaming exact FedAvg when it names none, so memory
 * stays O(params)), per part for a robust rule over partition payloads, then a FedAvg mean over
 * partition payloads is rebalanced per part and per-layer rules are applied.
 *
 * @example
 * ```ts
 * import { combineRound } from "./combine_round.ts";
 * const u = (nodeId: string, x: number) => ({ nodeId, delta: new Float32Array([x, x]), numSamples: 1, slot: 0 });
 * const r = combineRound({}, [u("0xa", 1), u("0xb", 3)]);
 * console.assert(r.delta[0] === 2 && r.accepted.length === 2);
 * ```
 */
import { paramLayout } from "../../kernel/params.ts";
import { DEFAULT_PARTS, partitionSeed, rebalancePartitionMean } from "../compress/partition.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { sqrtStaleness } from "./fed_buff.ts";
import { applyLayerRules, type LayerViews, type LayerWeightRule } from "./layerwise.ts";
import { aggregatePartitioned } from "./partitioned.ts";
import { robustStrategyFor } from "./select.ts";
import type { AggregateResult, ClientUpdate, Strategy } from "./strategy.ts";
import { StreamingFedAvg } from "./streaming_fed_avg.ts";
import { SlotFedAvg } from "./slot_fed_avg.ts";

/** One update as the round's combine step takes it. */
export interface RoundUpdate extends ClientUpdate {
  /** The node's slot (task group index): its part under the partition codec. */
  slot: number;
  /** Rounds between the update's base checkpoint and the round it counts in (default 0). */
  staleness?: number;
}

/** How a round's updates are combined (from a job spec: {@link combinePlanOf}). */
export interface CombinePlan {
  /** The rule for `n` updates; none: streaming exact FedAvg. */
  strategyFor?: (n: number) => Strategy;
  /** Partition payloads: the round's seed and the job's parts. */
  partition?: {
    seed: number;
    parts: number;
    /** Run `strategyFor` per part over the nodes that sent it (robust rules). */
    perPart: boolean;
    /** Rebalance the mean per part over the slots that sent it (FedAvg-like rules). */
    rebalance: boolean;
  };
  /** Per-layer weight/freeze rules over the model's tensor views. */
  layers?: { views: LayerViews; rules: Record<string, LayerWeightRule> };
}

/**
 * The combine plan of a job's round. `privateStrategy` is the job's DP-FedAvg for this round
 * (it carries the accountant), required when the spec has a privacy policy.
 */
export function combinePlanOf(
  spec: Pick<
    JobSpec,
    | "seed"
    | "robust"
    | "privacy"
    | "compression"
    | "asynchronous"
    | "aggregation"
    | "model"
    | "secureAggregation"
  >,
  round: number,
  privateStrategy?: Strategy,
): CombinePlan {
  // Secure aggregation noises on the nodes (distributed DP): no central strategy.
  if (spec.privacy && !privateStrategy && !spec.secureAggregation) {
    throw new TypeError("Cannot plan the round: a private job needs its DP strategy");
  }
  const robust = spec.robust;
  const plan: CombinePlan = {
    strategyFor: privateStrategy
      ? () => privateStrategy
      : robust
      ? (n) => robustStrategyFor(robust, n)
      : undefined,
  };
  if (spec.compression?.codec === "partition") {
    plan.partition = {
      seed: partitionSeed(spec.seed, round),
      parts: spec.compression.parts ?? DEFAULT_PARTS,
      perPart: !spec.privacy && robust !== undefined,
      rebalance: !spec.asynchronous && !robust,
    };
  }
  if (spec.aggregation.layers) {
    const views = Object.fromEntries(
      paramLayout(spec.model).tensors.map((t) => [t.name, [t.offset, t.size] as const]),
    );
    plan.layers = { views, rules: spec.aggregation.layers };
  }
  return plan;
}

/** Combines a round's updates by `plan` (see the module doc). */
export function combineRound(plan: CombinePlan, updates: readonly RoundUpdate[]): AggregateResult {
  const c = new RoundCombiner(plan, updates[0]?.delta.length ?? 0);
  c.addAll(updates);
  return c.finish();
}

/**
 * Parameters from which {@link RoundCombiner.open} sums a rule-less round in a {@link SlotFedAvg}
 * (updates decoded in place, every core); below, a StreamingFedAvg costs less to start.
 */
export const SLOT_SUM_MIN_LENGTH = 1 << 20;

/**
 * {@link combineRound} one update at a time: without a rule the updates stream into exact
 * FedAvg and are not kept, so a coordinator can read them from storage one by one.
 */
export class RoundCombiner {
  readonly #plan: CombinePlan;
  readonly #stream: StreamingFedAvg | SlotFedAvg | undefined;
  readonly #held: RoundUpdate[] = [];
  readonly #slots: number[] = [];

  constructor(plan: CombinePlan, length: number, stream?: SlotFedAvg) {
    this.#plan = plan;
    this.#stream = plan.strategyFor ? undefined : stream ?? new StreamingFedAvg(length);
  }

  /**
   * A combiner whose rule-less sum of a large model runs in a {@link SlotFedAvg}: decode each
   * update into {@link target} and add it with that view as its delta. Same bytes as the
   * constructor's; close it (`using`) if the round is abandoned before `finish`. Where no Web
   * Worker can start (some edge runtimes) the sum runs on the calling thread alone.
   */
  static async open(
    plan: CombinePlan,
    length: number,
    options: { threads?: number } = {},
  ): Promise<RoundCombiner> {
    if (plan.strategyFor || length < SLOT_SUM_MIN_LENGTH) return new RoundCombiner(plan, length);
    let sum: SlotFedAvg;
    try {
      sum = await SlotFedAvg.open(length, options);
    } catch (e) {
      if (options.threads === 1) throw e;
      sum = await SlotFedAvg.open(length, { threads: 1 });
    }
    return new RoundCombiner(plan, length, sum);
  }

  /** Where to decode the next update, when the sum holds it in place (else undefined). */
  target(): Float32Array | undefined {
    return this.#stream instanceof SlotFedAvg ? this.#stream.slot() : undefined;
  }

  /** Adds one update (its delta is scaled in place when stale). */
  add(update: RoundUpdate): void {
    discountStale(update);
    this.#slots.push(update.slot);
    if (this.#stream) this.#stream.add(update);
    else this.#held.push(update);
  }

  /** `add` of each update, bit-identical, streamed block by block over all of them at once. */
  addAll(updates: readonly RoundUpdate[]): void {
    for (const u of updates) {
      discountStale(u);
      this.#slots.push(u.slot);
    }
    if (this.#stream instanceof SlotFedAvg) { for (const u of updates) this.#stream.add(u); }
    else if (this.#stream) this.#stream.addAll(updates);
    else this.#held.push(...updates);
  }

  /** Stops a slot sum's threads (after `finish`, or for a round abandoned part-way). */
  [Symbol.dispose](): void {
    if (this.#stream instanceof SlotFedAvg) this.#stream.close();
  }

  /** The combined, adjusted delta. */
  finish(): AggregateResult {
    const result = this.#stream ? this.#stream.finish() : this.#combineHeld();
    adjustCombined(this.#plan, result.delta, this.#slots);
    return result;
  }

  #combineHeld(): AggregateResult {
    const { strategyFor, partition } = this.#plan;
    if (partition?.perPart) {
      // Per part, over the nodes that sent it (a whole-vector rule would see mostly zeros).
      return aggregatePartitioned(this.#held, { ...partition, strategyFor: strategyFor! });
    }
    return strategyFor!(this.#held.length).aggregate(this.#held);
  }
}

/**
 * A securely aggregated round's delta: the unmasked sum over the `included` nodes divided by their
 * number (unweighted FedAvg: every task has the same size, which intake enforces, so this is the
 * sample-weighted mean too), then the plan's per-layer rules. Secure jobs have no partition part
 * or robust rule to apply.
 *
 * @example
 * ```ts
 * import { meanOfSecureSum } from "./combine_round.ts";
 * console.assert(meanOfSecureSum({}, new Float64Array([3, -1.5]), 3).join() === "1,-0.5");
 * ```
 */
export function meanOfSecureSum(
  plan: CombinePlan,
  sum: Float64Array,
  included: number,
): Float32Array {
  if (!Number.isInteger(included) || included < 1) {
    throw new RangeError(`Cannot average a secure sum over ${included} nodes`);
  }
  const delta = Float32Array.from(sum, (x) => x / included);
  adjustCombined(plan, delta, []);
  return delta;
}

/** FedBuff: an update trained tau rounds ago counts s(tau) = 1/sqrt(1+tau) as much. */
export function discountStale(update: RoundUpdate): void {
  const tau = update.staleness ?? 0;
  if (tau <= 0) return;
  const s = sqrtStaleness(tau);
  const delta = update.delta;
  for (let i = 0; i < delta.length; i++) delta[i] = delta[i]! * s;
}

/**
 * What follows the rule, in place: each coordinate of a FedAvg mean over partition payloads
 * becomes the mean of the nodes whose part held it (`slots`: the combined updates' slots),
 * then the per-layer rules. Also applied to a mean combined elsewhere (cluster aggregates).
 */
export function adjustCombined(
  plan: CombinePlan,
  delta: Float32Array,
  slots: readonly number[],
): void {
  const p = plan.partition;
  if (p?.rebalance) rebalancePartitionMean(delta, { seed: p.seed, parts: p.parts, slots });
  if (plan.layers) applyLayerRules(delta, plan.layers.views, plan.layers.rules);
}
