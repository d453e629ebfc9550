/**
 * A round's combine step on the coordinator: reads the closing set's updates from KV and SVDB
 * one at a time into the job's combine plan (lib/strategy/combine_round.ts, the path the
 * simulator runs too), or takes the worker clusters' aggregates in hierarchical rounds, or the
 * unmasked sum of a secure round (./secure_round.ts).
 */
import { BudgetExceededError } from "../privacy/rdp_accountant.ts";
import type { JobSpec } from "../job/job_spec.ts";
import {
  adjustCombined,
  type CombinePlan,
  combinePlanOf,
  meanOfSecureSum,
  RoundCombiner,
  type RoundUpdate,
} from "../strategy/combine_round.ts";
import { decodeUpdateBytes } from "../round/update_envelope.ts";
import { decodeUpdateInto } from "../round/update_stream.ts";
import { clusteredDelta, isHierarchical } from "./clusters.ts";
import type { Context } from "./context.ts";
import { deliveredSlot, slotOf } from "./job.ts";
import { roundNoiseKey, roundPrivacy, secureRoundPrivacy } from "./privacy.ts";
import { secureSum } from "./secure_round.ts";
import { reject, RejectedError } from "./result.ts";
import { type JobRecord, placeIn, updateKey, type UpdateRecord } from "./state.ts";

/** The round's combined delta, the update bytes read, and the privacy spent after it. */
export interface Combined {
  delta: Float32Array;
  bytes: number;
  privacy: JobRecord["privacy"];
}

/**
 * Combines the updates of `nodes`; undefined while worker clusters are still aggregating.
 *
 * @throws {RejectedError} PRIVACY_BUDGET_EXCEEDED when the round would overspend the budget
 */
export async function combineUpdates(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  nodes: string[],
  length: number,
): Promise<Combined | undefined> {
  if (spec.secureAggregation) return await combineSecure(ctx, job, spec, nodes);
  const dp = await privateRound(ctx, job, spec, nodes);
  const plan = combinePlanOf(spec, job.round, dp?.strategy);
  if (!spec.privacy && !spec.robust && isHierarchical(spec, nodes.length)) {
    return await combineClusters(ctx, job, spec, plan, nodes, length);
  }
  // A large model's updates are decoded straight into the exact sum's memory, block by block.
  using combiner = await RoundCombiner.open(plan, length);
  let bytes = 0;
  for (const node of nodes) {
    const read = await readUpdate(ctx, job, spec, node, length, combiner.target());
    bytes += read.bytes;
    combiner.add(read.update);
  }
  const delta = combiner.finish().delta;
  // The clip the next round starts from: moved by this round's noised count when adaptive.
  const privacy = dp ? { ...dp.report, clip: dp.strategy.clip } : job.privacy;
  return { delta, bytes, privacy };
}

/** The round's DP strategy and report; refused before any update is read when over budget. */
async function privateRound(ctx: Context, job: JobRecord, spec: JobSpec, nodes: string[]) {
  if (!spec.privacy) return undefined;
  const key = await roundNoiseKey(ctx.kv, job.jobId, job.round);
  return withinBudget(() => roundPrivacy(spec, job, nodes, key));
}

/** Runs a privacy step; a budget it would exceed becomes a PRIVACY_BUDGET_EXCEEDED refusal. */
function withinBudget<T>(step: () => T): T {
  try {
    return step();
  } catch (e) {
    if (!(e instanceof BudgetExceededError)) throw e;
    const refusal = reject(409, "PRIVACY_BUDGET_EXCEEDED", `Cannot aggregate: ${e.message}`);
    throw new RejectedError(refusal, { cause: e });
  }
}

/**
 * A secure round: the mean of the finished SecAgg+ session's unmasked sum, no central noise; the
 * accountant charges the policy's noise, which the nodes' shares guarantee (secureRoundPrivacy).
 */
async function combineSecure(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  nodes: string[],
): Promise<Combined> {
  const secure = await secureSum(ctx, job);
  const privacy = spec.privacy
    ? withinBudget(() => secureRoundPrivacy(spec, job, nodes))
    : job.privacy;
  const delta = meanOfSecureSum(combinePlanOf(spec, job.round), secure.sum, nodes.length);
  return { delta, bytes: secure.bytes, privacy };
}

/**
 * One stored update of the open round, decoded (streamed into `into` when given, else read
 * whole), with its slot and staleness.
 */
export async function readUpdate(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  node: string,
  length: number,
  into?: Float32Array,
): Promise<{ bytes: number; update: RoundUpdate }> {
  const u = (await ctx.kv.get<UpdateRecord>(updateKey(job.jobId, job.round, node))).value!;
  let delta: Float32Array;
  if (into) {
    await decodeUpdateInto(ctx.store.cat(u.updateCid), into, spec.model);
    delta = into;
  } else delta = decodeUpdateBytes(await ctx.store.get(u.updateCid), length).delta;
  return {
    bytes: u.bytes,
    update: {
      nodeId: node,
      delta,
      numSamples: u.samples,
      slot: u.slot ?? slotOf(placeIn(job, node), spec),
      staleness: job.round - (u.baseRound ?? job.round),
    },
  };
}

/** Worker cluster aggregators sum the updates; the round waits until every cluster is in. */
async function combineClusters(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  plan: CombinePlan,
  nodes: string[],
  length: number,
): Promise<Combined | undefined> {
  const clustered = await clusteredDelta(ctx, job, spec, nodes, length);
  if (!clustered) return undefined;
  const slots = [];
  for (const node of nodes) slots.push(await deliveredSlot(ctx.kv, job, spec, job.round, node));
  adjustCombined(plan, clustered.delta, slots);
  return { delta: clustered.delta, bytes: clustered.bytes, privacy: job.privacy };
}
