/**
 * Federated vs centralized validation loss at equal samples, as an ablation over the tools the
 * literature offers for closing the gap: local learning rate, lr schedules (a cosine over rounds,
 * or one warmup + cosine over the job's steps that every node continues), local steps vs rounds,
 * and server optimizers (FedAvgM, DiLoCo's outer Nesterov, FedAdam/FedYogi). Two jobs:
 *
 * - `bench`: bench/federated.ts's job (8 Brown genres, one per node: non-IID; gpt width 32,
 *   1 layer, B 8 T 32, 15 rounds x 10 local AdamW steps; its 16 validation batches);
 * - `demo`: the demo's reference job ({@link REFERENCE_DEMO} through prepareJob: 8 nodes on the
 *   first 8 of 15 genres, width 64, 2 layers, 5 rounds x 20 steps of B 8; the coordinator's own
 *   evaluation).
 *
 * Every variant is a job spec run as the coordinator runs it: `roundHyper` for the local steps,
 * {@link trainLocal} on every node, `combineRound`, then `serverOptimizerFor(spec.aggregation)`
 * (rows named "diagnostic" are not job options). Centralized is the same spec with 1 round of
 * 8 x rounds x localSteps steps on the merged shards of the nodes (one optimizer state), over its
 * own grid of learning rates, schedules and smaller batches (the same samples in more steps); the
 * table's ratio is each variant's loss over the best centralized loss (medians over seeds). The
 * diagnostics ask where the gap comes from: client drift (an IID split), what averaging adds (one
 * node alone), the synchronous large-batch run averaging approximates, private optimizer state,
 * and the job's length (both runs at several times the rounds).
 *
 *   deno run -A bench/federated_quality.ts                 # both jobs, 3 seeds (~110 min, 2 cores)
 *   deno run -A bench/federated_quality.ts --quick         # 1 seed, fewer variants (~3 min)
 *   deno run -A bench/federated_quality.ts --job bench     # one job
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createTrainer } from "../kernel/train_step.ts";
import { loadKernel } from "../kernel/wasm_module.ts";
import {
  evalBatches,
  loadBrownShards,
  mergeShards,
  sampleBatch,
  type Shard,
} from "../kernel/data.ts";
import { initOptState } from "../kernel/optimizer.ts";
import { decodeCheckpoint } from "../lib/model/checkpoint.ts";
import { prepareJob } from "../lib/job/job_owner.ts";
import { SYNCHRONOUS_WARMUP, synchronousRecipe } from "../lib/job/recipe.ts";
import { type JobSpec, roundHyper, taskSeed, taskShard } from "../lib/job/job_spec.ts";
import { Store } from "../lib/store/store.ts";
import { MemoryBlockstore } from "../lib/store/memory_blockstore.ts";
import { evaluateWeights } from "../lib/coordinator/job.ts";
import { generateNodeKey } from "../lib/crypto/keys.ts";
import { concatBytes } from "../lib/crypto/digest.ts";
import { UNCHECKED_DOMAIN } from "../lib/crypto/domain.ts";
import { trainLocal } from "../lib/round/local_training.ts";
import { combineRound, type RoundUpdate } from "../lib/strategy/combine_round.ts";
import { serverOptimizerFor } from "../lib/strategy/server_optimizer.ts";
import { REFERENCE_DEMO } from "./_reference_demo.ts";

const trainer = createTrainer(loadKernel());
const key = generateNodeKey();
const ZERO = `0x${"00".repeat(32)}` as const;

/** A job to compare on: its spec for a seed, the nodes' shards and its validation measure. */
export interface QualityJob {
  name: string;
  nodes: number;
  spec: (seed: number) => Promise<JobSpec>;
  initial: (spec: JobSpec) => Promise<Float32Array>;
  /** Shards in spec order (node i trains on `taskShard(spec, i)`). */
  shards: Shard[];
  evaluate: (spec: JobSpec, weights: Float32Array) => Promise<number>;
  seeds: number[];
}

/** A variant: overrides of the job's spec (optimizer, rounds, localSteps, batch, aggregation). */
export interface Variant {
  name: string;
  batch?: Partial<JobSpec["batch"]>;
  /** With `schedule: "step"`: warmup over this share of the job's steps. */
  warmupShare?: number;
  optimizer?: Partial<JobSpec["optimizer"]>;
  aggregation?: Partial<JobSpec["aggregation"]>;
  rounds?: number;
  localSteps?: number;
  /** Diagnostic, not a job option: see {@link FederatedOptions.keepOptimizerState}. */
  keepOptimizerState?: boolean;
  /** Diagnostic, not a job option: see {@link FederatedOptions.averageOptimizerState}. */
  averageOptimizerState?: boolean;
  /** Batch B with the local steps scaled to keep the samples equal (B 4 for B 8: twice the steps). */
  equalSamplesB?: number;
  /** Diagnostic: the nodes' shards re-dealt IID ({@link iidJob}), to tell drift from the rest. */
  iid?: boolean;
}

function withVariant(spec: JobSpec, v: Variant): JobSpec {
  const out = {
    ...spec,
    rounds: v.rounds ?? spec.rounds,
    localSteps: v.localSteps ?? spec.localSteps,
    batch: { ...spec.batch, ...v.batch },
    optimizer: { ...spec.optimizer, ...v.optimizer },
    aggregation: { ...spec.aggregation, ...v.aggregation },
  };
  if (v.equalSamplesB === undefined) return out;
  const samples = out.localSteps * out.batch.B;
  if (samples % v.equalSamplesB) {
    throw new RangeError(`B ${v.equalSamplesB} does not divide ${samples}`);
  }
  return {
    ...out,
    localSteps: samples / v.equalSamplesB,
    batch: { ...out.batch, B: v.equalSamplesB },
  };
}

/** Options of {@link runFederated}. */
export interface FederatedOptions {
  /** The loss after every round (and before the first), not only at the end. */
  curve?: boolean;
  /**
   * Diagnostic, not a job option: every node keeps its optimizer state from round to round. The
   * coordinator cannot offer it: a node's optimizer state is private, so no validator could replay
   * its round from public data (trainLocal starts it fresh for that reason).
   */
  keepOptimizerState?: boolean;
  /**
   * Diagnostic, not a job option: every node starts its round from the nodes' averaged AdamW
   * state of the round before (m, v and the step count). Unlike a kept state this one is public,
   * so a validator could replay a round from it; the price would be each node uploading m and v
   * beside its delta (3x the bytes). It measures what that protocol change would buy.
   */
  averageOptimizerState?: boolean;
}

/** The job's rounds as the coordinator runs them; the loss after every round when `curve`. */
export async function runFederated(
  job: QualityJob,
  spec: JobSpec,
  options: FederatedOptions = {},
): Promise<number[]> {
  let global = await job.initial(spec);
  const server = serverOptimizerFor(spec.aggregation, global.length);
  const local = options.keepOptimizerState || options.averageOptimizerState
    ? statefulNodes(job, spec, global.length, options.averageOptimizerState ?? false)
    : freshNodes(job, spec);
  const curve = options.curve ? [await job.evaluate(spec, global)] : [];
  for (let round = 0; round < spec.rounds; round++) {
    const updates: RoundUpdate[] = [];
    for (let i = 0; i < job.nodes; i++) {
      const { delta, samples } = local(global, round, i);
      updates.push({ nodeId: String(i), delta, numSamples: samples, slot: i });
    }
    const { delta } = combineRound({}, updates);
    global = global.slice();
    if (server) server.step(global, delta);
    else for (let j = 0; j < global.length; j++) global[j] = global[j]! + delta[j]!;
    if (options.curve) curve.push(await job.evaluate(spec, global));
  }
  if (!options.curve) curve.push(await job.evaluate(spec, global));
  return curve;
}

/** Node `i`'s round from `global`: its delta and how many samples it trained on. */
type LocalRound = (
  global: Float32Array,
  round: number,
  i: number,
) => { delta: Float32Array; samples: number };

/** Nodes as the coordinator runs them: {@link trainLocal}, fresh optimizer state every round. */
function freshNodes(job: QualityJob, spec: JobSpec): LocalRound {
  return (global, round, i) => {
    const r = trainLocal(
      trainer,
      global,
      {
        jobId: ZERO,
        domain: UNCHECKED_DOMAIN,
        round,
        seed: taskSeed(spec, i),
        localSteps: spec.localSteps,
        proofEvery: spec.localSteps,
        data: job.shards[taskShard(spec, i)]!.train,
        hyper: roundHyper(spec, round),
      },
      key,
      { now: () => 0n },
    );
    return { delta: r.delta, samples: r.samples };
  };
}

/**
 * trainLocal's steps and batches, but each node's optimizer state carried into its next round:
 * its own (`average` false), or the nodes' mean state after the round before (`average`).
 */
function statefulNodes(
  job: QualityJob,
  spec: JobSpec,
  size: number,
  average: boolean,
): LocalRound {
  const kind = roundHyper(spec, 0).optimizer.kind;
  const states = Array.from({ length: job.nodes }, () => initOptState(kind, size));
  let shared = initOptState(kind, size);
  let sharedRound = 0;
  const averageStates = () => {
    const mean = initOptState(kind, size);
    mean.step = states[0]!.step;
    for (const st of states) {
      for (let j = 0; j < size; j++) {
        mean.m[j] = mean.m[j]! + st.m[j]! / job.nodes;
        if (mean.v.length) mean.v[j] = mean.v[j]! + st.v[j]! / job.nodes;
      }
    }
    return mean;
  };
  return (global, round, i) => {
    if (average && round > sharedRound) [shared, sharedRound] = [averageStates(), round];
    const hyper = roundHyper(spec, round);
    const data = job.shards[taskShard(spec, i)]!.train, seed = taskSeed(spec, i);
    const count = hyper.B * hyper.accumSteps;
    let weights = global;
    let state = average ? { ...shared, m: shared.m.slice(), v: shared.v.slice() } : states[i]!;
    for (let s = 0; s < spec.localSteps; s++) {
      const batch = sampleBatch(data, count, hyper.T, seed, round * spec.localSteps + s);
      const r = trainer.trainStep(weights, state, batch, seed, hyper);
      weights = r.weights;
      state = r.optState;
    }
    states[i] = state;
    return {
      delta: weights.map((w, j) => w - global[j]!),
      samples: spec.localSteps * count,
    };
  };
}

/**
 * One run of `steps` steps (by default nodes x rounds x localSteps: the job's samples) on the
 * nodes' merged shards.
 */
export async function runCentralized(
  job: QualityJob,
  spec: JobSpec,
  steps = job.nodes * spec.rounds * spec.localSteps,
): Promise<number> {
  const used = Array.from({ length: job.nodes }, (_, i) => job.shards[taskShard(spec, i)]!);
  const merged = mergeShards("merged", [...new Set(used)]).train;
  const one = { ...spec, rounds: 1, localSteps: steps };
  const r = trainLocal(
    trainer,
    await job.initial(spec),
    {
      jobId: ZERO,
      domain: UNCHECKED_DOMAIN,
      round: 0,
      seed: spec.seed,
      localSteps: steps,
      proofEvery: steps,
      data: merged,
      hyper: roundHyper(one, 0),
    },
    key,
    { now: () => 0n },
  );
  return await job.evaluate(spec, r.weights);
}

const GENRES = [
  "adventure",
  "editorial",
  "government",
  "hobbies",
  "learned",
  "news",
  "religion",
  "romance",
];

/** bench/federated.ts's job: 8 genres, width 32, 1 layer, 15 x 10 steps, constant lr 3e-3. */
export function benchJob(seeds = [1, 2, 3]): QualityJob {
  const all = loadBrownShards();
  const shards = GENRES.map((g) => all.find((s) => s.name === `brown/${g}`)!);
  const val = concatBytes(...shards.map((s) => s.val.subarray(0, 4096)));
  const evals = evalBatches(val, 8, 32, 16);
  const stores = new Map<number, Store>();
  return {
    name: "bench",
    nodes: 8,
    shards,
    seeds,
    spec: async (seed) => {
      const store = new Store(new MemoryBlockstore());
      const { spec } = await prepareJob(store, {
        model: { kind: "gpt", maxT: 32, layers: 1, heads: 2, width: 32 },
        shards,
        rounds: 15,
        localSteps: 10,
        B: 8,
        T: 32,
        seed,
      });
      stores.set(seed, store);
      // bench/federated.ts's constant lr 3e-3 (defaultHyper), whatever prepareJob's default.
      return { ...spec, optimizer: { ...spec.optimizer, lr: 3e-3, minLrRatio: 1 } };
    },
    initial: async (spec) =>
      decodeCheckpoint(await stores.get(spec.seed)!.get(spec.initialWeights)).weights,
    evaluate: (spec, w) => {
      const hyper = { ...roundHyper(spec, 0), B: 8, T: 32, accumSteps: 1 }; // the batches' shape
      return Promise.resolve(evals.reduce((a, b) => a + trainer.evalLoss(w, b, hyper), 0) / 16);
    },
  };
}

/** The demo's reference job ({@link REFERENCE_DEMO}), evaluated as the coordinator does. */
export function demoJob(seeds = [1337, 1, 2]): QualityJob {
  const d = REFERENCE_DEMO;
  const stores = new Map<number, Store>();
  return {
    name: "demo",
    nodes: d.nodes,
    shards: loadBrownShards(),
    seeds,
    spec: async (seed) => {
      const store = new Store(new MemoryBlockstore());
      const { spec } = await prepareJob(store, {
        model: { kind: "gpt", maxT: d.T, layers: d.layers, heads: 4, width: d.width },
        shards: loadBrownShards(),
        rounds: d.rounds,
        localSteps: d.localSteps,
        B: d.B,
        T: d.T,
        strategy: d.strategy,
        seed,
      });
      stores.set(seed, store);
      return spec;
    },
    initial: async (spec) =>
      decodeCheckpoint(await stores.get(spec.seed)!.get(spec.initialWeights)).weights,
    evaluate: async (spec, w) => (await evaluateWeights(stores.get(spec.seed)!, spec, w)).loss,
  };
}

/** The median of `xs` (the mean of the middle two for an even count). */
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** One table row: a variant's median loss over seeds and its ratio to the best centralized. */
export interface QualityRow {
  variant: string;
  loss: number;
  losses: number[];
  ratio: number;
}

/**
 * The centralized grid: each lr constant and with a 5% warmup + cosine to 0.1, then each lr
 * constant at every smaller batch in `batches` (more steps, the same samples).
 */
export function centralVariants(
  lrs: readonly number[],
  batches: readonly number[] = [],
): Variant[] {
  const schedules = lrs.flatMap((lr) => [
    { name: `central lr ${lr} constant`, optimizer: { lr, minLrRatio: 1 } },
    {
      name: `central lr ${lr} warmup 5% + cosine`,
      optimizer: { lr, minLrRatio: 0.1, schedule: "step" as const },
      warmupShare: 0.05,
    },
  ]);
  const smaller = batches.flatMap((B) =>
    lrs.map((lr) => ({
      name: `central B ${B} lr ${lr} constant`,
      equalSamplesB: B,
      optimizer: { lr, minLrRatio: 1 },
    }))
  );
  return [...schedules, ...smaller];
}

/**
 * The variant's spec for one seed; `warmupShare` is a share of the steps the schedule spans: a
 * node's rounds x localSteps, or (`central`) the centralized run's nodes times as many.
 */
export async function specOf(
  job: QualityJob,
  seed: number,
  v: Variant,
  central = false,
): Promise<JobSpec> {
  const spec = withVariant(await job.spec(seed), v);
  if (v.warmupShare === undefined) return spec;
  const steps = (central ? job.nodes : 1) * spec.rounds * spec.localSteps;
  const warmupSteps = Math.round(v.warmupShare * steps);
  return { ...spec, optimizer: { ...spec.optimizer, warmupSteps } };
}

/** Median over the job's seeds of `run` on each seed's spec. */
async function medianOver(
  job: QualityJob,
  v: Variant,
  run: (spec: JobSpec) => Promise<number>,
  central = false,
): Promise<{ loss: number; losses: number[] }> {
  const losses: number[] = [];
  for (const seed of job.seeds) losses.push(await run(await specOf(job, seed, v, central)));
  return { loss: median(losses), losses };
}

/**
 * The job with its nodes' shards re-dealt IID: the merged text cut in 4 KiB blocks dealt round
 * robin, so every node sees every genre (same bytes, same validation).
 */
export function iidJob(job: QualityJob): QualityJob {
  const merged = mergeShards("merged", job.shards.slice(0, job.nodes)).train;
  const block = 4096, blocks = Math.floor(merged.length / block);
  const shards = Array.from({ length: job.nodes }, (_, i) => {
    const mine = Array.from(
      { length: Math.ceil((blocks - i) / job.nodes) },
      (_, k) => merged.subarray((i + k * job.nodes) * block, (i + k * job.nodes + 1) * block),
    );
    return { name: `iid/${i}`, train: concatBytes(...mine), val: job.shards[i]!.val };
  });
  return { ...job, shards: [...shards, ...job.shards.slice(job.nodes)] };
}

/** How {@link federatedQuality} runs. */
export interface QualityOptions {
  /** The centralized grid's learning rates. */
  centralLrs: number[];
  /** Smaller batches the centralized grid also tries at every lr (the same samples). */
  centralBatches?: number[];
  /** Add the diagnostics: IID split, one node alone, synchronous large batch, longer jobs. */
  diagnostics?: boolean;
  /** The longer jobs' rounds, as multiples of the job's (the base recipe vs the best central). */
  horizons?: number[];
  log?: (line: string) => void;
}

/** One job's table: the centralized rows (the reference is their best) and the federated ones. */
export interface QualityTable {
  central: QualityRow[];
  federated: QualityRow[];
  best: number;
}

/**
 * The ablation on one job: the centralized grid (its best is the reference), every variant
 * federated, then (`diagnostics`) where the gap comes from. Rows are logged as they finish.
 */
export async function federatedQuality(
  job: QualityJob,
  variants: Variant[],
  options: QualityOptions,
): Promise<QualityTable> {
  const log = options.log ?? (() => {});
  const central: QualityRow[] = [];
  const grid = centralVariants(options.centralLrs, options.centralBatches);
  for (const v of grid) {
    const m = await medianOver(job, v, (spec) => runCentralized(job, spec), true);
    central.push({ variant: `${job.name}: ${v.name}`, ...m, ratio: NaN });
  }
  const best = Math.min(...central.map((r) => r.loss));
  for (const r of central) log(row(Object.assign(r, { ratio: r.loss / best })));
  const table = { central, federated: [] as QualityRow[], best };
  const add = (name: string, m: { loss: number; losses: number[] }, reference = best) => {
    const r = { variant: `${job.name}: ${name}`, ...m, ratio: m.loss / reference };
    table.federated.push(r);
    log(row(r));
  };
  for (const v of variants) {
    const on = v.iid ? iidJob(job) : job;
    add(v.name, await medianOver(on, v, federatedLoss(on, v)));
  }
  if (options.diagnostics) {
    const bestCentral = grid[central.findIndex((r) => r.loss === best)]!;
    await diagnose(job, variants[0] ?? { name: "base" }, bestCentral, options, add);
  }
  return table;
}

/** The final federated loss of a spec, with the variant's diagnostic state option. */
const federatedLoss = (job: QualityJob, v: Variant) => async (spec: JobSpec) =>
  (await runFederated(job, spec, {
    keepOptimizerState: v.keepOptimizerState,
    averageOptimizerState: v.averageOptimizerState,
  })).at(-1)!;

/**
 * Where the gap comes from, each against the best centralized run: the base recipe on an IID
 * split (client drift); one node alone on all the genres with 1/nodes of the samples (what
 * averaging adds); centralized with the round's batch, nodes x B for 1/nodes the steps (the
 * synchronous large-batch run federated averaging approximates); and the base recipe against the
 * best centralized one at `horizons` times the rounds (is the gap the job's length?).
 */
async function diagnose(
  job: QualityJob,
  base: Variant,
  bestCentral: Variant,
  options: QualityOptions,
  add: (name: string, m: { loss: number; losses: number[] }, reference?: number) => void,
): Promise<void> {
  const iid = iidJob(job);
  add(
    `diagnostic: ${base.name} on an IID split`,
    await medianOver(iid, base, federatedLoss(iid, base)),
  );
  const serial = (spec: JobSpec) => spec.rounds * spec.localSteps;
  for (const lr of options.centralLrs) {
    const v = { name: "", optimizer: { lr, minLrRatio: 1 } };
    add(
      `diagnostic: one node alone, 1/${job.nodes} of the samples from every genre, lr ${lr}`,
      await medianOver(job, v, (spec) => runCentralized(job, spec, serial(spec))),
    );
  }
  for (const lr of options.centralLrs) {
    const v = { name: "", optimizer: { lr, minLrRatio: 1 } };
    add(
      `diagnostic: central with the round's batch (${job.nodes}x B, 1/${job.nodes} steps) lr ${lr}`,
      await medianOver(
        job,
        v,
        (spec) =>
          runCentralized(
            job,
            { ...spec, batch: { ...spec.batch, B: spec.batch.B * job.nodes } },
            serial(spec),
          ),
      ),
    );
  }
  const rounds = (await job.spec(job.seeds[0]!)).rounds;
  for (const times of options.horizons ?? []) {
    const longer = (v: Variant): Variant => ({ ...v, rounds: times * (v.rounds ?? rounds) });
    const central = await medianOver(
      job,
      longer(bestCentral),
      (spec) => runCentralized(job, spec),
      true,
    );
    add(
      `diagnostic: ${times}x the rounds, ${base.name} / ${bestCentral.name} (${
        central.loss.toFixed(4)
      })`,
      await medianOver(job, longer(base), federatedLoss(job, base)),
      central.loss,
    );
  }
}

const row = (r: QualityRow) =>
  `| ${r.variant} | ${r.loss.toFixed(4)} | ${r.losses.map((l) => l.toFixed(3)).join(", ")} | ${
    r.ratio.toFixed(3)
  } |`;

/** First round index whose loss is <= target (Infinity if never). */
const roundsTo = (curve: number[], target: number) => {
  const i = curve.findIndex((l) => l <= target);
  return i < 0 ? Infinity : i;
};

/**
 * The rounds advantage's target for two loss curves from the same start: 90% of the improvement
 * the weaker of the two makes.
 */
export const advantageTarget = (a: number[], b: number[]) => {
  const initial = a[0]!;
  return initial - 0.9 * (initial - Math.max(Math.min(...a), Math.min(...b)));
};

/**
 * FedAvg (the variant's local steps) vs FedSGD (1 local step) under one recipe, as
 * bench/federated.ts section 3 measures it: rounds to reach 90% of the improvement the weaker
 * of the two makes within its cap; median ratio over the job's seeds. FedSGD's one step takes the
 * recipe's batch B (`sgdBatch: "step"`), or McMahan et al.'s: the round's samples in one batch of
 * B x localSteps (`"round"`).
 */
export async function roundsAdvantage(
  job: QualityJob,
  v: Variant,
  caps: { avg: number; sgd: number },
  sgdBatch: "step" | "round" = "step",
): Promise<{ ratio: number; lines: string[] }> {
  const ratios: number[] = [];
  const lines: string[] = [];
  for (const seed of job.seeds) {
    const base = await specOf(job, seed, v);
    const avg = await runFederated(job, { ...base, rounds: caps.avg }, { curve: true });
    const B = sgdBatch === "round" ? base.batch.B * base.localSteps : base.batch.B;
    const sgd = await runFederated(job, {
      ...base,
      rounds: caps.sgd,
      localSteps: 1,
      batch: { ...base.batch, B },
    }, { curve: true });
    const target = advantageTarget(avg, sgd);
    const ra = roundsTo(avg, target), rs = roundsTo(sgd, target);
    ratios.push(rs / ra);
    lines.push(
      `seed ${seed}: target ${target.toFixed(4)}: FedAvg ${ra} rounds, FedSGD (B ${B}) ${rs} ` +
        `rounds (caps ${caps.avg}/${caps.sgd}); ratio ${(rs / ra).toFixed(1)}`,
    );
  }
  return { ratio: median(ratios), lines };
}

// ------------------------------------------------------------------------------- variants

const momentum = (lr: number, m: number, nesterov: boolean): Variant["aggregation"] => ({
  strategy: nesterov ? "diloco" : "fedavgm",
  outerLr: lr,
  outerMomentum: m,
});

/** Server optimizers, shared by both jobs (the job's own local recipe). */
const SERVER_VARIANTS: Variant[] = [
  { name: "server lr 1.2 (FedAvgM momentum 0)", aggregation: momentum(1.2, 0, false) },
  { name: "FedAvgM lr 1, momentum 0.9", aggregation: momentum(1, 0.9, false) },
  { name: "FedAvgM lr 1, momentum 0.5", aggregation: momentum(1, 0.5, false) },
  {
    name: "DiLoCo Nesterov lr 0.7, momentum 0.9 (published)",
    aggregation: momentum(0.7, 0.9, true),
  },
  { name: "DiLoCo Nesterov lr 1, momentum 0.5", aggregation: momentum(1, 0.5, true) },
  { name: "FedAdam lr 1e-2, tau 1e-3", aggregation: { strategy: "fedadam", outerLr: 1e-2 } },
  { name: "FedAdam lr 3e-2, tau 1e-3", aggregation: { strategy: "fedadam", outerLr: 3e-2 } },
  { name: "FedYogi lr 1e-2, tau 1e-3", aggregation: { strategy: "fedyogi", outerLr: 1e-2 } },
];

/** FedAvg with local batches of `b` at `lr`, the same `samples` per round in more steps. */
function localBatchVariant(b: number, lr: number, samples: number): Variant {
  return {
    name: `FedAvg local B ${b} x ${samples / b} steps, lr ${lr}`,
    equalSamplesB: b,
    optimizer: { lr },
  };
}

/**
 * More sequential steps for the same samples (smaller local batches), and Reddi et al.'s set-up
 * (local SGD, an adaptive server); then, as diagnostics, nodes that keep their AdamW state between
 * rounds.
 */
function recipeVariants(rounds: number, localSteps: number, B: number): Variant[] {
  const local = (b: number, lr: number) => localBatchVariant(b, lr, localSteps * B);
  const b1Rounds = { rounds: rounds * B, batch: { B: 1 }, optimizer: { lr: 2e-3 } };
  const sgd = { kind: "sgd" as const, lr: 0.1 };
  return [
    ...[4, 2, 1].flatMap((b) => [local(b, 2e-3), local(b, 3e-3)]),
    {
      name: `FedAvg R${rounds * B} x L${localSteps} of B 1, lr 2e-3 (${B}x the rounds)`,
      ...b1Rounds,
    },
    { name: "local SGD (momentum 0.9) lr 0.1", optimizer: sgd },
    {
      name: "local SGD lr 0.1 + FedAdam lr 1e-2, tau 1e-3 (Reddi et al.'s set-up)",
      optimizer: sgd,
      aggregation: { strategy: "fedadam", outerLr: 1e-2 },
    },
    { name: "diagnostic: AdamW state kept between rounds", keepOptimizerState: true },
    {
      ...local(1, 2e-3),
      name: `diagnostic: state kept, local B 1, lr 2e-3`,
      keepOptimizerState: true,
    },
    {
      name: `diagnostic: state kept, R${rounds * B} x L${localSteps} of B 1, lr 2e-3`,
      keepOptimizerState: true,
      ...b1Rounds,
    },
    {
      ...local(2, 2e-3),
      name: `diagnostic: averaged AdamW state, local B 2, lr 2e-3`,
      averageOptimizerState: true,
    },
    {
      name: `diagnostic: averaged AdamW state, R${rounds * B} x L${localSteps} of B 1, lr 3e-3`,
      averageOptimizerState: true,
      ...b1Rounds,
      optimizer: { lr: 3e-3 },
    },
    {
      // Is what 10 local steps cost drift between genres (SCAFFOLD's and FedProx's target)?
      name: `diagnostic: averaged AdamW state, R${
        rounds * B
      } x L${localSteps} of B 1, lr 3e-3, IID`,
      averageOptimizerState: true,
      ...b1Rounds,
      optimizer: { lr: 3e-3 },
      iid: true,
    },
    {
      name: `diagnostic: averaged AdamW state, R${2 * rounds * B} x L${
        localSteps / 2
      } of B 1, lr 5e-3`,
      averageOptimizerState: true,
      rounds: 2 * rounds * B,
      localSteps: localSteps / 2,
      batch: { B: 1 },
      optimizer: { lr: 5e-3 },
    },
  ];
}

/**
 * The synchronous recipe's server over `rounds` rounds: FedAdam with Adam's bias correction
 * (lib/job/recipe.ts), its lr warmed up over `warmupShare` of the rounds (the recipe's 5%, or 0
 * for the rows measured before it).
 */
const serverAdamW = (
  rounds: number,
  lr: number,
  warmupShare = SYNCHRONOUS_WARMUP,
): Variant["aggregation"] => {
  const r = synchronousRecipe(rounds, lr, warmupShare);
  return { strategy: r.strategy, ...r.outer };
};

/**
 * The synchronous end of the trade between rounds and quality: each round a node takes one SGD
 * step of B 1 at lr 1 (its clipped gradient, weight decay 0) and the server applies Adam to the
 * round's averaged gradient: FedSGD with a server Adam, which is centralized AdamW at the nodes'
 * combined batch (8: one sequence of each genre). It takes `rounds x localSteps x B` rounds.
 * `lrs` are run with the recipe's warmup, `coldLr` without and with the other `warmups` (shares
 * of the rounds); then local steps of SGD under the server Adam at `localStepsLr`, 2 and 8 a
 * round: what local steps cost.
 */
function synchronousVariants(
  rounds: number,
  localSteps: number,
  B: number,
  o: { lrs: number[]; coldLr: number; localStepsLr: number; warmups?: number[] },
): Variant[] {
  const { lrs, coldLr, localStepsLr } = o;
  const samples = rounds * localSteps * B;
  // SGD as prepareJob makes it (no weight decay), constant, at the recipe's lr 1 or `lr`.
  const sgd = (lr = synchronousRecipe(samples).lr) => ({
    kind: "sgd" as const,
    lr,
    weightDecay: 0,
    minLrRatio: synchronousRecipe(samples).minLrRatio,
  });
  const step = { rounds: samples, localSteps: 1, batch: { B: 1 }, optimizer: sgd() };
  return [
    ...lrs.map((lr): Variant => ({
      name: `synchronous: ${samples} rounds x 1 step of B 1 + server Adam lr ${lr}, ${
        100 * SYNCHRONOUS_WARMUP
      }% warmup`,
      ...step,
      aggregation: serverAdamW(samples, lr),
    })),
    {
      name: `synchronous, server Adam lr ${coldLr} without warmup`,
      ...step,
      aggregation: serverAdamW(samples, coldLr, 0),
    },
    ...(o.warmups ?? []).map((share): Variant => ({
      name: `synchronous, server Adam lr ${coldLr}, ${100 * share}% warmup`,
      ...step,
      aggregation: serverAdamW(samples, coldLr, share),
    })),
    ...[2, 8].map((k): Variant => ({
      name: `${
        samples / k
      } rounds x ${k} local SGD steps (lr 0.05) of B 1 + server Adam lr ${localStepsLr}`,
      rounds: samples / k,
      localSteps: k,
      batch: { B: 1 },
      optimizer: sgd(0.05),
      aggregation: serverAdamW(samples / k, localStepsLr, 0),
    })),
  ];
}

/** The bench job's variants (15 rounds x 10 steps, constant lr 3e-3, unless named). */
export const BENCH_VARIANTS: Variant[] = [
  { name: "FedAvg lr 3e-3 (today)" },
  { name: "FedAvg lr 2e-3", optimizer: { lr: 2e-3 } },
  { name: "FedAvg lr 5e-3", optimizer: { lr: 5e-3 } },
  {
    name: "FedAvg warmup 5% + cosine over the job's steps",
    optimizer: { schedule: "step", minLrRatio: 0.1 },
    warmupShare: 0.05,
  },
  {
    name: "FedAvg warmup 10%, then constant",
    optimizer: { schedule: "step", minLrRatio: 1 },
    warmupShare: 0.1,
  },
  {
    name: "FedAvg cosine over rounds to 0.1 (the old job default)",
    optimizer: { minLrRatio: 0.1 },
  },
  { name: "FedAvg R30 x L5", rounds: 30, localSteps: 5 },
  { name: "FedAvg R10 x L15", rounds: 10, localSteps: 15 },
  { name: "FedAvg R15 x L80 of B 1", localSteps: 80, batch: { B: 1 }, optimizer: { lr: 1e-3 } },
  ...SERVER_VARIANTS,
  ...recipeVariants(15, 10, 8),
  ...synchronousVariants(15, 10, 8, {
    lrs: [3e-3, 4e-3],
    coldLr: 3e-3,
    localStepsLr: 3e-3,
    warmups: [0.025, 0.1, 0.2],
  }),
];

/** The demo job's variants measured against its old default, a cosine over rounds to 0.1. */
const DEMO_COSINE_VARIANTS: Variant[] = [
  { name: "FedAvg lr 2e-3", optimizer: { lr: 2e-3 } },
  {
    name: "FedAvg warmup 5% + cosine over the job's steps",
    optimizer: { schedule: "step" },
    warmupShare: 0.05,
  },
  { name: "FedAvg R10 x L10", rounds: 10, localSteps: 10 },
  ...SERVER_VARIANTS,
];

/**
 * The demo job's variants (5 rounds x 20 steps): its default (constant lr since this ablation),
 * the old default, then the rest on the old default's cosine, as they were measured.
 */
export const DEMO_VARIANTS: Variant[] = [
  { name: "FedAvg, constant lr (B 8 x 20 steps)" },
  { name: "FedAvg, cosine over rounds to 0.1 (the old default)", optimizer: { minLrRatio: 0.1 } },
  ...recipeVariants(REFERENCE_DEMO.rounds, REFERENCE_DEMO.localSteps, REFERENCE_DEMO.B),
  ...synchronousVariants(
    REFERENCE_DEMO.rounds,
    REFERENCE_DEMO.localSteps,
    REFERENCE_DEMO.B,
    { lrs: [3e-3, 4e-3], coldLr: 3e-3, localStepsLr: 2e-3 },
  ),
  ...DEMO_COSINE_VARIANTS.map((v) => ({
    ...v,
    name: `${v.name}, cosine over rounds`,
    optimizer: { minLrRatio: 0.1, ...v.optimizer },
  })),
];

/** Options of {@link federatedQualityReport}. */
export interface ReportOptions {
  quick?: boolean;
  jobs?: ("bench" | "demo")[];
  /** Only variants whose name contains this. */
  only?: string;
  log?: (line: string) => void;
}

/**
 * The whole ablation as printed: a markdown table per job (variant, median federated loss, per
 * seed, ratio to the best centralized), then FedSGD/FedAvg rounds under the bench job's
 * recipe `winner` (default its first variant). What bench/federated.ts calls.
 */
export async function federatedQualityReport(
  options: ReportOptions = {},
  winner?: Variant,
): Promise<void> {
  const log = options.log ?? ((s: string) => console.log(s));
  const quick = options.quick ?? false;
  const jobs = options.jobs ?? ["bench", "demo"];
  const pick = (vs: Variant[]) =>
    options.only ? vs.filter((v) => v.name.includes(options.only!)) : quick ? vs.slice(0, 3) : vs;
  const lrs = quick ? [3e-3] : [1e-3, 2e-3, 3e-3, 5e-3, 1e-2];
  for (const name of jobs) {
    const job = name === "bench"
      ? benchJob(quick ? [1] : [1, 2, 3])
      : demoJob(quick ? [1337] : [1337, 1, 2]);
    log(`\n${name} job, seeds ${job.seeds.join(", ")}; ratio = loss / best centralized loss\n`);
    log("| variant | median loss | per seed | / best central |");
    log("| --- | ---: | --- | ---: |");
    await federatedQuality(job, pick(name === "bench" ? BENCH_VARIANTS : DEMO_VARIANTS), {
      centralLrs: name === "bench" ? lrs : quick ? [3e-3] : [1e-3, 3e-3, 1e-2],
      centralBatches: quick ? [] : name === "bench" ? [2, 4] : [4],
      diagnostics: !options.only,
      horizons: quick ? [] : name === "bench" ? [4, 16] : [4],
      log,
    });
  }
  if (jobs.includes("bench")) await logAdvantages(quick, log, winner);
}

/**
 * The bench job's local recipe since the local-batch ablation (bench/federated.ts's job keeps
 * B 8 x 10 steps at lr 3e-3 as the reference; the demo's default is the same change).
 */
export const BENCH_B2_RECIPE: Variant = localBatchVariant(2, 2e-3, 10 * 8);

/**
 * FedSGD/FedAvg rounds to the same loss on the bench job: under `winner` alone, else under the
 * issue's B 8 recipe and under {@link BENCH_B2_RECIPE} with both FedSGD batches.
 */
async function logAdvantages(
  quick: boolean,
  log: (line: string) => void,
  winner?: Variant,
): Promise<void> {
  const caps = quick ? { avg: 10, sgd: 40 } : { avg: 40, sgd: 400 };
  const runs: [Variant, "step" | "round"][] = winner ? [[winner, "step"]] : [
    [BENCH_VARIANTS[0]!, "step"],
    [BENCH_B2_RECIPE, "step"],
    [BENCH_B2_RECIPE, "round"],
  ];
  for (const [v, sgdBatch] of runs) {
    const r = await roundsAdvantage(benchJob(quick ? [1] : [1, 2, 3]), v, caps, sgdBatch);
    const how = sgdBatch === "round" ? "one step on the round's samples" : "one step of B";
    log(`\nFedSGD (${how}) / FedAvg rounds to the same loss under "${v.name}":`);
    for (const line of r.lines) log(`   ${line}`);
    log(`   median ${r.ratio.toFixed(1)}x`);
  }
}

if (import.meta.main) {
  const { values: args } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      job: { type: "string", default: "bench,demo" },
      only: { type: "string", default: "" },
    },
  });
  const started = performance.now();
  await federatedQualityReport({
    quick: args.quick,
    jobs: args.job.split(",").filter((j): j is "bench" | "demo" => j === "bench" || j === "demo"),
    only: args.only || undefined,
  });
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
