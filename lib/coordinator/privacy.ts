/**
 * Differential privacy of a job's rounds: the round's DP-FedAvg (noise seeded by job seed and
 * round, an accountant that already spent the earlier rounds) and the privacy report after the
 * round: the job's epsilon and each data owner's (shard's), counting only its own rounds.
 */
import type { JobSpec } from "../job/job_spec.ts";
import {
  computeRdp,
  DEFAULT_ORDERS,
  RdpAccountant,
  rdpToEpsilon,
} from "../privacy/rdp_accountant.ts";
import { DpFedAvg } from "../strategy/dp_fed_avg.ts";
import type { JobRecord } from "./state.ts";

/** The DP strategy of `job`'s open round and its accountant (undefined without a policy). */
export function roundPrivacy(
  spec: JobSpec,
  job: JobRecord,
): { strategy: DpFedAvg; accountant: RdpAccountant } | undefined {
  const p = spec.privacy;
  if (!p) return undefined;
  const accountant = new RdpAccountant({ delta: p.delta, maxEpsilon: p.maxEpsilon });
  if (job.round > 0) accountant.spend(1, p.noiseMultiplier, job.round);
  const strategy = new DpFedAvg({
    clip: p.clip,
    noiseMultiplier: p.noiseMultiplier,
    seed: (spec.seed ^ job.round) >>> 0,
    accountant,
  });
  return { strategy, accountant };
}

/** The privacy spent after this round by the job and by each shard trained on in it. */
export function privacyReport(
  spec: JobSpec,
  job: JobRecord,
  nodes: string[],
  epsilon: number,
): JobRecord["privacy"] {
  const p = spec.privacy!;
  const rounds = [...(job.privacy?.shardRounds ?? spec.shards.map(() => 0))];
  for (const shard of new Set(nodes.map((n) => job.shardOf[n]!))) rounds[shard]! += 1;
  const perShard = rounds.map((r) =>
    r === 0
      ? 0
      : rdpToEpsilon(DEFAULT_ORDERS, computeRdp(1, p.noiseMultiplier, r, DEFAULT_ORDERS), p.delta)
        .epsilon
  );
  return {
    epsilon,
    delta: p.delta,
    maxEpsilon: p.maxEpsilon,
    shardRounds: rounds,
    shardEpsilon: perShard,
  };
}
