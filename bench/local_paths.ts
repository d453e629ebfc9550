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
 * - `iid`: `separate` on the shards re-dealt IID: the part of the loss that is drift between
 *   genres (what SCAFFOLD and FedProx correct).
 *
 *   deno run -A bench/local_paths.ts            # 3 seeds (~5 min on 2 cores)
 *   deno run -A bench/local_paths.ts --quick    # seed 1
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
export type PathMode = "separate" | "combined" | "mime";

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
  for (let round = 0; round < spec.rounds; round++) {
    if (mode === "mime") run.mimeRound(round);
    else if (mode === "combined") run.combinedRound(round);
    else run.separateRound(round);
  }
  return await job.evaluate(spec, Float32Array.from(run.w));
}

/** One run's weights and server Adam moments, and a round taken each way. */
class PathRun {
  readonly w: Float64Array;
  readonly n: number;
  readonly N: number;
  readonly K: number;
  readonly m: Float64Array;
  readonly v: Float64Array;
  /** Updates the moments have taken. */
  t = 0;
  readonly #sgd;

  constructor(
    readonly job: QualityJob,
    readonly spec: JobSpec,
    initial: Float32Array,
    readonly lr: number,
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

  /** Each node K linear steps from the round's weights; the moments take the K step means. */
  separateRound(round: number): void {
    const { K, N, n } = this;
    const den = this.denominators();
    const means = Array.from({ length: K }, () => new Float64Array(n));
    const sum = new Float64Array(n);
    for (let i = 0; i < N; i++) {
      const y = this.w.slice(), mi = this.m.slice();
      for (let k = 0; k < K; k++) {
        const g = this.gradient(y, i, round * K + k);
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

  /** The same K steps with every node at the same weights: each on the combined batch. */
  combinedRound(round: number): void {
    const { K, N, n } = this;
    const den = this.denominators();
    const means = Array.from({ length: K }, () => new Float64Array(n));
    const mi = this.m.slice();
    for (let k = 0; k < K; k++) {
      const mean = means[k]!;
      for (let i = 0; i < N; i++) {
        const g = this.gradient(this.w, i, round * K + k);
        for (let j = 0; j < n; j++) mean[j] = mean[j]! + g[j]! / N;
      }
      for (let j = 0; j < n; j++) mi[j] = BETA1 * mi[j]! + (1 - BETA1) * mean[j]!;
      this.step(this.w, (j) => mi[j]!, 1 - BETA1 ** (this.t + k + 1), den, mean);
    }
    for (const g of means) this.push(g);
  }

  /** Mime: c, the mean gradient at the round's start, updates the moments once; then K steps. */
  mimeRound(round: number): void {
    const { K, N, n, m } = this;
    const anchors = Array.from(
      { length: N },
      (_, i) => Array.from({ length: K }, (_, k) => this.gradient(this.w, i, round * K + k)),
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
        const g = k === 0 ? anchors[i]![0]! : this.gradient(y, i, round * K + k);
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
];

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { quick: { type: "boolean" } } });
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
  const line = (name: string, ls: number[]) =>
    console.log(
      `| ${name} | ${median(ls).toFixed(4)} | ${ls.map((l) => l.toFixed(3)).join(", ")} | ${
        (median(ls) / best).toFixed(3)
      } |`,
    );
  line("centralized, B 4 lr 3e-3 (the reference)", ref);
  for (const [name, onIid, mode, K, lr] of ROWS) {
    const losses: number[] = [];
    for (const seed of job.seeds) {
      losses.push(await localPathsLoss(onIid ? iid : job, seed, mode, K, lr));
    }
    line(name, losses);
  }
}
