/**
 * Where local steps lose quality on the bench's federated job (bench/federated_quality.ts's
 * `bench`: 8 genre nodes, 9,600 sequences), at equal samples and 1,200 sequential steps of B 1 a
 * node, against the best centralized run of that bench's grid (B 4, lr 3e-3) in the same run.
 *
 * Every row is Adam with the jobs' betas (0.9, 0.95), weight decay 0.01, its update clamped to
 * +-1 per coordinate (a preconditioner frozen for a round would otherwise let a coordinate whose
 * v decayed take a huge step). None is a job option; they are diagnostics of the frontier between
 * local steps and loss (README, "Local steps trade loss for rounds"):
 *
 * - `separate`: each node takes K local steps that are linear in its gradients: momentum starting
 *   from the server's m, preconditioned by the server's v frozen for the round. The server's
 *   moments then take the round's K per-step mean gradients, an optimistic bound (a protocol
 *   would have to send K gradients a node for them). Averaged, the K steps of 8 nodes would be K
 *   Adam steps on the combined batch if the loss were quadratic.
 * - `combined`: the same steps and the same frozen v, but every node at the same weights, each
 *   step on the 8 nodes' combined batch: what is left without separate paths.
 * - `mime`: Mime (Karimireddy et al. 2020) with Adam: the nodes' mean gradient c at the round's
 *   start feeds the server's moments once a round, and each local step follows
 *   g(y) - g(x) + c on the node's batch under the frozen state (as if a first exchange had sent
 *   c, so also optimistic).
 * - `anchored<lambda>`: `separate`, but each gradient taken between the node's own path and where
 *   the round's frozen server state alone moves the weights (`separateRound`'s `lambda`).
 * - `iid`: `separate` on the shards re-dealt IID: the part of the loss that is drift between
 *   genres (what SCAFFOLD and FedProx correct).
 * - schedules (`scheduleRun`): `separate` in phases whose K changes across the job, each with
 *   its rounds to bench:federated's rounds-advantage target against one step a round.
 *
 *   deno run -A bench/local_paths.ts               # 3 seeds (~26 min on 2 cores)
 *   deno run -A bench/local_paths.ts --quick       # seed 1
 *   deno run -A bench/local_paths.ts --schedules   # the schedules' table only
 *   deno run -A bench/local_paths.ts --only TEXT   # the rows whose name holds TEXT
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createTrainer } from "../kernel/train_step.ts";
import { loadKernel } from "../kernel/wasm_module.ts";
import { sampleBatch } from "../kernel/data.ts";
import { initOptState } from "../kernel/optimizer.ts";
import { type JobSpec, roundHyper, taskSeed, taskShard } from "../lib/job/job_spec.ts";
import {
  advantageTarget,
  benchJob,
  iidJob,
  median,
  type QualityJob,
  runCentralized,
  specOf,
} from "./federated_quality.ts";

const trainer = createTrainer(loadKernel());
const BETA1 = 0.9, BETA2 = 0.95, EPS = 1e-8, WD = 0.01, CLAMP = 1;
/** Sequences a node sees in the bench job (15 rounds x 10 steps x B 8), one per step here. */
const STEPS = 1_200;

/** How the nodes take a round's local steps (see the module doc). */
export type PathMode = "separate" | "combined" | "mime" | `anchored${number}`;

/** The final validation loss of `K` local steps a round at `lr`, taken as `mode` says. */
export async function localPathsLoss(
  job: QualityJob,
  seed: number,
  mode: PathMode,
  K: number,
  lr: number,
): Promise<number> {
  const base = await job.spec(seed);
  const spec: JobSpec = {
    ...base,
    rounds: STEPS / K,
    localSteps: K,
    batch: { ...base.batch, B: 1 },
  };
  const run = new PathRun(job, spec, await job.initial(spec), lr);
  for (let first = 0; first < STEPS; first += K) {
    if (mode.startsWith("anchored")) run.separateRound(first, Number(mode.slice(8)));
    else if (mode === "mime") run.mimeRound(first);
    else if (mode === "combined") run.combinedRound(first);
    else run.separateRound(first);
  }
  return await job.evaluate(spec, Float32Array.from(run.w));
}

/**
 * One run's weights and server Adam moments, and a round taken each way; a round's argument is
 * the index of its first step (a node's step-th batch), so a schedule can change K between rounds.
 */
class PathRun {
  readonly w: Float64Array;
  readonly n: number;
  readonly N: number;
  /** Local steps a round, and their lr: a schedule changes both between rounds. */
  K: number;
  readonly m: Float64Array;
  readonly v: Float64Array;
  /** Updates the moments have taken. */
  t = 0;
  readonly #sgd;

  constructor(
    readonly job: QualityJob,
    readonly spec: JobSpec,
    initial: Float32Array,
    public lr: number,
  ) {
    this.w = Float64Array.from(initial);
    this.n = this.w.length;
    this.N = job.nodes;
    this.K = spec.localSteps;
    this.m = new Float64Array(this.n);
    this.v = new Float64Array(this.n);
    this.#sgd = {
      ...roundHyper(spec, 0),
      schedule: { lr: 1, warmupSteps: 0, totalSteps: 1, minLrRatio: 1 },
      optimizer: { kind: "sgd" as const, momentum: 0, weightDecay: 0 },
    };
  }

  /** A node's clipped gradient on its step-th batch of 1: what an SGD step at lr 1 moves. */
  gradient(at: Float64Array, node: number, step: number): Float64Array {
    const data = this.job.shards[taskShard(this.spec, node)]!.train;
    const s = taskSeed(this.spec, node);
    const x = Float32Array.from(at);
    const batch = sampleBatch(data, 1, this.spec.batch.T, s, step);
    const r = trainer.trainStep(x, initOptState("sgd", this.n), batch, s, this.#sgd);
    return Float64Array.from(x, (xj, j) => xj - r.weights[j]!);
  }

  /** One update of the server's moments with gradient `g`. */
  push(g: Float64Array): void {
    const { m, v } = this;
    this.t++;
    for (let j = 0; j < this.n; j++) {
      m[j] = BETA1 * m[j]! + (1 - BETA1) * g[j]!;
      v[j] = BETA2 * v[j]! + (1 - BETA2) * g[j]! * g[j]!;
    }
  }

  /** The server's denominators sqrt(v / c2) + eps, 0 while it has no v (frozen for a round). */
  denominators(): Float64Array {
    const c2 = 1 - BETA2 ** Math.max(this.t, 1);
    return Float64Array.from(this.v, (vj) => this.t === 0 ? 0 : Math.sqrt(vj / c2) + EPS);
  }

  /**
   * One step of `y` along direction d (bias-corrected by `c1`) under `den`; where there is no
   * v yet, a sign step on the step's own gradient g (Adam's first step).
   */
  step(y: Float64Array, d: (j: number) => number, c1: number, den: Float64Array, g: Float64Array) {
    const { lr } = this;
    for (let j = 0; j < this.n; j++) {
      const raw = den[j] === 0 ? Math.sign(g[j]!) : d(j) / c1 / den[j]!;
      y[j] = y[j]! * (1 - lr * WD) - lr * Math.max(-CLAMP, Math.min(CLAMP, raw));
    }
  }

  /**
   * Each node K linear steps from the round's weights; the moments take the K step means. With
   * `lambda` below 1 (`anchored`), a node takes its k-th gradient at p_k + lambda (y_k - p_k)
   * instead of at its own y_k: p_k is where the round's frozen state alone (the server's m
   * decaying, no new gradient) moves the weights in k steps. Its own samples then steer where it
   * evaluates less, so the point is closer to where the 8 nodes' average path goes.
   */
  separateRound(first: number, lambda = 1): void {
    const { K, N, n } = this;
    const den = this.denominators();
    const preds = lambda === 1 ? [] : this.frozenPath(den);
    const means = Array.from({ length: K }, () => new Float64Array(n));
    const sum = new Float64Array(n);
    for (let i = 0; i < N; i++) {
      const y = this.w.slice(), mi = this.m.slice();
      for (let k = 0; k < K; k++) {
        const p = preds[k];
        const at = p ? Float64Array.from(p, (pj, j) => pj + lambda * (y[j]! - pj)) : y;
        const g = this.gradient(at, i, first + k);
        for (let j = 0; j < n; j++) {
          means[k]![j] = means[k]![j]! + g[j]! / N;
          mi[j] = BETA1 * mi[j]! + (1 - BETA1) * g[j]!;
        }
        this.step(y, (j) => mi[j]!, 1 - BETA1 ** (this.t + k + 1), den, g);
      }
      for (let j = 0; j < n; j++) sum[j] = sum[j]! + y[j]! / N;
    }
    this.w.set(sum);
    for (const g of means) this.push(g);
  }

  /** The K points the round's frozen state alone steps the weights through (p_0 = w). */
  frozenPath(den: Float64Array): Float64Array[] {
    const zero = new Float64Array(this.n);
    const path = [this.w.slice()];
    const mp = this.m.slice();
    for (let k = 1; k < this.K; k++) {
      for (let j = 0; j < this.n; j++) mp[j] = BETA1 * mp[j]!;
      const p = path[k - 1]!.slice();
      this.step(p, (j) => mp[j]!, 1 - BETA1 ** (this.t + k), den, zero);
      path.push(p);
    }
    return path;
  }

  /** The same K steps with every node at the same weights: each on the combined batch. */
  combinedRound(first: number): void {
    const { K, N, n } = this;
    const den = this.denominators();
    const means = Array.from({ length: K }, () => new Float64Array(n));
    const mi = this.m.slice();
    for (let k = 0; k < K; k++) {
      const mean = means[k]!;
      for (let i = 0; i < N; i++) {
        const g = this.gradient(this.w, i, first + k);
        for (let j = 0; j < n; j++) mean[j] = mean[j]! + g[j]! / N;
      }
      for (let j = 0; j < n; j++) mi[j] = BETA1 * mi[j]! + (1 - BETA1) * mean[j]!;
      this.step(this.w, (j) => mi[j]!, 1 - BETA1 ** (this.t + k + 1), den, mean);
    }
    for (const g of means) this.push(g);
  }

  /** Mime: c, the mean gradient at the round's start, updates the moments once; then K steps. */
  mimeRound(first: number): void {
    const { K, N, n, m } = this;
    const anchors = Array.from(
      { length: N },
      (_, i) => Array.from({ length: K }, (_, k) => this.gradient(this.w, i, first + k)),
    );
    const c = new Float64Array(n);
    for (const a of anchors.flat()) for (let j = 0; j < n; j++) c[j] = c[j]! + a[j]! / (N * K);
    this.push(c);
    const c1 = 1 - BETA1 ** this.t;
    const den = this.denominators();
    const sum = new Float64Array(n);
    for (let i = 0; i < N; i++) {
      const y = this.w.slice();
      for (let k = 0; k < K; k++) {
        const g = k === 0 ? anchors[i]![0]! : this.gradient(y, i, first + k);
        const a = anchors[i]![k]!;
        this.step(y, (j) => (1 - BETA1) * (g[j]! - a[j]! + c[j]!) + BETA1 * m[j]!, c1, den, g);
      }
      for (let j = 0; j < n; j++) sum[j] = sum[j]! + y[j]! / N;
    }
    this.w.set(sum);
  }
}

/** The rows: name, job, mode, local steps, lr. */
const ROWS: [string, boolean, PathMode, number, number][] = [
  ["separate paths, 2 local steps, lr 3e-3", false, "separate", 2, 3e-3],
  ["separate paths, 4 local steps, lr 3e-3", false, "separate", 4, 3e-3],
  ["separate paths, 8 local steps, lr 2e-3", false, "separate", 8, 2e-3],
  ["separate paths, 8 local steps, lr 3e-3", false, "separate", 8, 3e-3],
  ["separate paths on an IID split, 8 local steps, lr 3e-3", true, "separate", 8, 3e-3],
  ["Mime, 8 local steps, lr 2e-3", false, "mime", 8, 2e-3],
  ["combined batch (one path), 8 steps a round, lr 3e-3", false, "combined", 8, 3e-3],
  ["anchored 0 (at the frozen path), 8 local steps, lr 2e-3", false, "anchored0", 8, 2e-3],
  ["anchored 0.5 (halfway to its own), 8 local steps, lr 2e-3", false, "anchored0.5", 8, 2e-3],
];

/** A schedule's curve is evaluated each time a round crosses a multiple of this many steps. */
const EVERY = 24;

/** A phase of a local-steps schedule: `steps` of a node's steps, taken `K` a round at `lr`. */
export interface Phase {
  steps: number;
  K: number;
  lr: number;
}

/** A schedule's run: its final loss, its rounds and its loss curve by round. */
export interface ScheduleRun {
  loss: number;
  rounds: number;
  curve: { round: number; loss: number }[];
}

/**
 * Local steps that change across the job: `phases` in order, each taking its steps `K` a round as
 * `separate` does (the server's moments carry over between phases). One step a round first and
 * local steps late is Lin et al.'s post-local SGD; many early and fewer late, Wang and Joshi's
 * AdaComm.
 *
 * @throws {RangeError} when the phases' steps do not sum to a node's 1,200 or a phase's steps are
 *   not a multiple of its K
 */
export async function scheduleRun(
  job: QualityJob,
  seed: number,
  phases: Phase[],
): Promise<ScheduleRun> {
  const total = phases.reduce((sum, p) => sum + p.steps, 0);
  const uneven = phases.find((p) => p.steps % p.K !== 0);
  if (total !== STEPS || uneven) {
    throw new RangeError(
      `Cannot run the schedule: its phases take ${total} steps (a node takes ${STEPS})` +
        (uneven ? ` and ${uneven.steps} steps are not a multiple of ${uneven.K}` : ""),
    );
  }
  const base = await job.spec(seed);
  const spec: JobSpec = { ...base, localSteps: phases[0]!.K, batch: { ...base.batch, B: 1 } };
  const run = new PathRun(job, spec, await job.initial(spec), phases[0]!.lr);
  const evaluate = () => job.evaluate(spec, Float32Array.from(run.w));
  const curve = [{ round: 0, loss: await evaluate() }];
  let first = 0, rounds = 0;
  for (const { steps, K, lr } of phases) {
    run.K = K;
    run.lr = lr;
    for (const end = first + steps; first < end; first += K) {
      run.separateRound(first);
      rounds++;
      if (Math.floor((first + K) / EVERY) > Math.floor(first / EVERY)) {
        curve.push({ round: rounds, loss: await evaluate() });
      }
    }
  }
  return { loss: curve.at(-1)!.loss, rounds, curve };
}

/** The schedules: name and phases; the first is the baseline the others' rounds are against. */
const SCHEDULES: [string, Phase[]][] = [
  ["1 local step a round throughout, lr 3e-3", [{ steps: STEPS, K: 1, lr: 3e-3 }]],
  [
    "decreasing: 8 a round (lr 1.5e-3) for the first 32% of the steps, then 1 (lr 3e-3)",
    [{ steps: 384, K: 8, lr: 1.5e-3 }, { steps: 816, K: 1, lr: 3e-3 }],
  ],
  [
    "decreasing: 16 a round (lr 1e-3) for the first 32% of the steps, then 1 (lr 3e-3)",
    [{ steps: 384, K: 16, lr: 1e-3 }, { steps: 816, K: 1, lr: 3e-3 }],
  ],
  [
    "post-local: 1 a round (lr 3e-3) for the first 70% of the steps, then 8 (lr 2e-3)",
    [{ steps: 840, K: 1, lr: 3e-3 }, { steps: 360, K: 8, lr: 2e-3 }],
  ],
  [
    "post-local: 1 a round (lr 3e-3) for the first 50% of the steps, then 8 (lr 2e-3)",
    [{ steps: 600, K: 1, lr: 3e-3 }, { steps: 600, K: 8, lr: 2e-3 }],
  ],
];

/** A row's loss cells: the median, each seed's, and the median over `best`. */
const lossCells = (losses: number[], best: number) =>
  `${median(losses).toFixed(4)} | ${losses.map((l) => l.toFixed(3)).join(", ")} | ${
    (median(losses) / best).toFixed(3)
  }`;

/** The first round whose loss is <= target (Infinity if none). */
const roundAt = (run: ScheduleRun, target: number) =>
  run.curve.find((p) => p.loss <= target)?.round ?? Infinity;

/**
 * Prints the schedules' table: rounds, rounds to 90% of the weaker run's improvement against the
 * first schedule (as bench:federated's rounds advantage), and loss against `best`.
 */
async function printSchedules(job: QualityJob, best: number, only: string): Promise<void> {
  console.log(
    "\n| schedule (1,200 steps of B 1 a node) | rounds | rounds to target | fewer than 1 a round | " +
      "median loss | per seed | / central |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | --- | ---: |");
  const runsOf = async (phases: Phase[]) => {
    const runs: ScheduleRun[] = [];
    for (const seed of job.seeds) runs.push(await scheduleRun(job, seed, phases));
    return runs;
  };
  const [base, ...rest] = SCHEDULES;
  const baseline = await runsOf(base![1]);
  for (const [name, phases] of [base!, ...rest.filter(([name]) => name.includes(only))]) {
    const runs = phases === base![1] ? baseline : await runsOf(phases);
    const to: number[] = [], fewer: number[] = [];
    runs.forEach((r, s) => {
      const b = baseline[s]!;
      const target = advantageTarget(b.curve.map((p) => p.loss), r.curve.map((p) => p.loss));
      to.push(roundAt(r, target));
      fewer.push(roundAt(b, target) / roundAt(r, target));
    });
    const losses = runs.map((r) => r.loss);
    const rounds = `${runs[0]!.rounds} | ${median(to)} | ${median(fewer).toFixed(1)}x`;
    console.log(`| ${name} | ${rounds} | ${lossCells(losses, best)} |`);
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      only: { type: "string", default: "" },
      schedules: { type: "boolean" },
    },
  });
  const job = benchJob(values.quick ? [1] : [1, 2, 3]);
  const iid = iidJob(job);
  const central = { name: "central B 4 lr 3e-3", equalSamplesB: 4, optimizer: { lr: 3e-3 } };
  const ref: number[] = [];
  for (const seed of job.seeds) {
    ref.push(await runCentralized(job, await specOf(job, seed, central, true)));
  }
  const best = median(ref);
  console.log(`bench job, seeds ${job.seeds.join(", ")}; ratio = loss / centralized B 4 lr 3e-3\n`);
  console.log("| local steps (1,200 steps of B 1 a node) | median loss | per seed | / central |");
  console.log("| --- | ---: | --- | ---: |");
  const line = (name: string, ls: number[]) => console.log(`| ${name} | ${lossCells(ls, best)} |`);
  line("centralized, B 4 lr 3e-3 (the reference)", ref);
  const rows = values.schedules ? [] : ROWS.filter(([name]) => name.includes(values.only));
  for (const [name, onIid, mode, K, lr] of rows) {
    const losses: number[] = [];
    for (const seed of job.seeds) {
      losses.push(await localPathsLoss(onIid ? iid : job, seed, mode, K, lr));
    }
    line(name, losses);
  }
  await printSchedules(job, best, values.only);
}
