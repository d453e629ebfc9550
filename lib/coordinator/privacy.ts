/**
 * Differential privacy of a job's rounds, per data owner. The round's DP-FedAvg draws its noise
 * from a secret key the coordinator creates once per round (lib/crypto/secure_rng.ts): nothing
 * public enters it, so nobody else can regenerate and subtract it, and a close retried after a
 * crash redraws the same noise instead of releasing a second noised copy. The accounting counts,
 * for each data owner (shard), how many of the round's counted updates carry its data: with `m`
 * copies its sensitivity is `m x clip`, so the round costs it a noise multiplier of `z / m`. The
 * job's epsilon is its worst-off owner's, and a round that would take any owner over the budget
 * is refused before anything is released.
 *
 * Secure aggregation (distributed DP): each node clips and adds its share of the noise before
 * masking, the coordinator adds none, and the round is charged the policy's z
 * ({@link secureRoundPrivacy}): the noise every released sum holds for anyone, the nodes in it
 * included, since each knows its own share.
 */
import type { Hex } from "viem";
import { type JobSpec, taskShard } from "../job/job_spec.ts";
import { SecureRng, secureRngKey } from "../crypto/secure_rng.ts";
import { BudgetExceededError, RdpAccountant } from "../privacy/rdp_accountant.ts";
import { DpFedAvg } from "../strategy/dp_fed_avg.ts";
import { AdaptiveClipper, adaptiveDeltaNoiseMultiplier } from "../privacy/adaptive_clip.ts";
import type { CopyRun, JobRecord } from "./state.ts";

/** Where the coordinator keeps a round's secret noise key (never served, never logged). */
export const noiseKey = (jobId: string, round: number): Deno.KvKey => [
  "dpNoise",
  jobId.toLowerCase(),
  round,
];

/** The round's secret noise key, created on first use; a retry gets the same key. */
export async function roundNoiseKey(kv: Deno.Kv, jobId: Hex, round: number): Promise<Uint8Array> {
  const key = noiseKey(jobId, round);
  await kv.atomic().check({ key, versionstamp: null }).set(key, secureRngKey()).commit();
  return (await kv.get<Uint8Array>(key)).value!;
}

/** How many of `nodes` (the round's counted updates) carry each shard's data. */
export function shardCopies(spec: JobSpec, job: JobRecord, nodes: readonly string[]): number[] {
  const copies = spec.shards.map(() => 0);
  for (const n of nodes) copies[taskShard(spec, job.taskOf[n]!)]! += 1;
  return copies;
}

/**
 * One shard's copies in each of its rounds, from the runs the job's record keeps them in
 * ({@link JobRecord.privacy}): for a report that lists them round by round, never on a request's
 * path (5,000 rounds are 5,000 numbers a shard).
 *
 * @example
 * ```ts
 * import { copiesPerRound } from "./privacy.ts";
 * console.assert(copiesPerRound([[1, 2], [2, 1]]).join("+") === "1+1+2");
 * ```
 */
export function copiesPerRound(runs: readonly CopyRun[]): number[] {
  return runs.flatMap(([m, n]) => Array<number>(n).fill(m));
}

/**
 * The runs after one more round of `copies` (a new array: the record read stays as it was).
 *
 * @example
 * ```ts
 * import { appendCopies } from "./privacy.ts";
 * console.assert(JSON.stringify(appendCopies([[1, 2]], 1)) === "[[1,3]]");
 * console.assert(JSON.stringify(appendCopies([[1, 2]], 2)) === "[[1,2],[2,1]]");
 * ```
 */
export function appendCopies(runs: readonly CopyRun[], copies: number): CopyRun[] {
  const last = runs.at(-1);
  if (last?.[0] === copies) return [...runs.slice(0, -1), [copies, last[1] + 1]];
  return [...runs, [copies, 1]];
}

/** Rounds the runs cover. */
const roundsIn = (runs: readonly CopyRun[]) => runs.reduce((a, [, n]) => a + n, 0);

/**
 * Epsilon of one data owner that was in rounds with these copy counts, each round's sum noised
 * at multiplier `noise[i]` (default: the policy's z, as central DP-FedAvg adds).
 */
export function ownerEpsilon(
  p: NonNullable<JobSpec["privacy"]>,
  copies: readonly number[],
  noise?: readonly number[],
) {
  const accountant = new RdpAccountant({ delta: p.delta });
  copies.forEach((m, i) => accountant.spend(1, (noise?.[i] ?? p.noiseMultiplier) / m));
  return accountant.epsilon;
}

/** {@link ownerEpsilon} at the policy's z of rounds given as runs. */
function runsEpsilon(p: NonNullable<JobSpec["privacy"]>, runs: readonly CopyRun[]): number {
  const accountant = new RdpAccountant({ delta: p.delta });
  for (const [m, n] of runs) accountant.spend(1, p.noiseMultiplier / m, n);
  return accountant.epsilon;
}

/**
 * The round's DP strategy and the privacy report after it, for the counted `nodes`.
 *
 * @throws {BudgetExceededError} when the round would take a data owner over the budget
 */
export function roundPrivacy(
  spec: JobSpec,
  job: JobRecord,
  nodes: readonly string[],
  key: Uint8Array,
): { strategy: DpFedAvg; report: NonNullable<JobRecord["privacy"]> } | undefined {
  const p = spec.privacy;
  if (!p) return undefined;
  const report = reportAfter(spec, job, nodes);
  const strategy = dpStrategy(p, job.privacy?.clip ?? p.clip, new SecureRng(key));
  return { strategy, report };
}

/**
 * The privacy report after a securely aggregated round, charged at the policy's z. The released
 * sum of s survivors carries sigma sqrt(s / (minSurvivors - 1)) (sigma = z x clip); a node in it
 * knows its own share and can subtract it, which leaves at least sigma for every s the protocol
 * lets survive (lib/privacy/secure_aggregation/noise.ts), as the SecAgg+ library says to account
 * (README, "Distributed DP"). Charged at the larger figure, each round cost about 0.7x its true
 * epsilon at 10 of 10 survivors and the budget was overshot.
 *
 * @throws {BudgetExceededError} when the round would take a data owner over the budget
 */
export function secureRoundPrivacy(
  spec: JobSpec,
  job: JobRecord,
  nodes: readonly string[],
): NonNullable<JobRecord["privacy"]> | undefined {
  return spec.privacy ? reportAfter(spec, job, nodes) : undefined;
}

/**
 * Every owner's epsilon after the round, charged at the policy's z. A job whose secure rounds were
 * charged at the noise that survived (`shardNoise`, recorded before that was mended) keeps those
 * rounds' figures and adds z.
 */
function reportAfter(
  spec: JobSpec,
  job: JobRecord,
  nodes: readonly string[],
): NonNullable<JobRecord["privacy"]> {
  const p = spec.privacy!;
  const now = shardCopies(spec, job, nodes);
  const history = job.privacy?.shardCopyRuns ?? spec.shards.map(() => []);
  const runsAfter = history.map((runs, s) => now[s]! > 0 ? appendCopies(runs, now[s]!) : runs);
  const past = job.privacy?.shardNoise;
  const shardNoise = past && history.map((runs, s) => {
    const before = past[s] ?? Array<number>(roundsIn(runs)).fill(p.noiseMultiplier);
    return now[s]! > 0 ? [...before, p.noiseMultiplier] : before;
  });
  // A run of n rounds at m copies is charged as n steps at once: the same RDP sum, in time linear
  // in the runs, not the rounds. Only an old job's per-round noise is still charged round by round.
  const shardEpsilon = runsAfter.map((runs, s) =>
    runs.length === 0
      ? 0
      : shardNoise
      ? ownerEpsilon(p, copiesPerRound(runs), shardNoise[s])
      : runsEpsilon(p, runs)
  );
  const epsilon = Math.max(0, ...shardEpsilon);
  if (epsilon > p.maxEpsilon) throw new BudgetExceededError({ epsilon, maxEpsilon: p.maxEpsilon });
  return {
    clip: job.privacy?.clip ?? p.clip,
    epsilon,
    delta: p.delta,
    maxEpsilon: p.maxEpsilon,
    shardRounds: runsAfter.map(roundsIn),
    shardCopyRuns: runsAfter,
    shardEpsilon,
    ...(shardNoise ? { shardNoise } : {}),
  };
}

/**
 * DP-FedAvg at this round's clip. With adaptive clipping the clipped count, over flags shifted to
 * {-1/2, +1/2}, is noised from the same secret stream and the update noise is raised to z_delta:
 * an owner with m copies moves the update sum by m x clip and the count by m/2, so the pair costs
 * exactly one release at z / m, what the accountant charges (Andrew et al. 2021, section 3; the
 * adjacency is in lib/privacy/adaptive_clip.ts).
 */
function dpStrategy(p: NonNullable<JobSpec["privacy"]>, clip: number, rng: SecureRng): DpFedAvg {
  const a = p.adaptiveClip;
  if (!a) return new DpFedAvg({ clip, noiseMultiplier: p.noiseMultiplier, seed: rng });
  const clipper = new AdaptiveClipper({ initialClip: clip, ...a, rng });
  const noiseMultiplier = adaptiveDeltaNoiseMultiplier(p.noiseMultiplier, a.countNoiseStd);
  return new DpFedAvg({ clip: clipper, noiseMultiplier, seed: rng });
}
