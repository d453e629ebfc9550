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
import { benchJob, iidJob, type QualityJob, runCentralized, specOf } from "./federated_quality.ts";

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
  const w = Float64Array.from(await job.initial(spec));
  const n = w.length, N = job.nodes;
  const sgd = {
    ...roundHyper(spec, 0),
    schedule: { lr: 1, warmupSteps: 0, totalSteps: 1, minLrRatio: 1 },
    optimizer: { kind: "sgd" as const, momentum: 0, weightDecay: 0 },
  };
  // A node's clipped gradient on its step-th batch of 1: the weights an SGD step at lr 1 moves.
  const gradient = (at: Float64Array, node: number, step: number): Float64Array => {
    const data = job.shards[taskShard(spec, node)]!.train;
    const s = taskSeed(spec, node);
    const x = Float32Array.from(at);
    const r = trainer.trainStep(
      x,
      initOptState("sgd", n),
      sampleBatch(data, 1, 32, s, step),
      s,
      sgd,
    );
    return Float64Array.from(x, (xj, j) => xj - r.weights[j]!);
  };
  const m = new Float64Array(n), v = new Float64Array(n);
  let t = 0;
  const push = (g: Float64Array) => {
    t++;
    for (let j = 0; j < n; j++) {
      m[j] = BETA1 * m[j]! + (1 - BETA1) * g[j]!;
      v[j] = BETA2 * v[j]! + (1 - BETA2) * g[j]! * g[j]!;
    }
  };
  // One step along direction d (bias-corrected by `c1`) under the frozen denominators; before
  // the server has a v, a sign step on the step's own gradient g (Adam's first step).
  const step = (
    y: Float64Array,
    d: (j: number) => number,
    c1: number,
    den: Float64Array,
    g: Float64Array,
  ) => {
    for (let j = 0; j < n; j++) {
      const raw = den[j] === 0 ? Math.sign(g[j]!) : d(j) / c1 / den[j]!;
      y[j] = y[j]! * (1 - lr * WD) - lr * Math.max(-CLAMP, Math.min(CLAMP, raw));
    }
  };
  for (let round = 0; round < spec.rounds; round++) {
    // The server's v, frozen for the round (a sign step before it has any).
    const c2 = 1 - BETA2 ** Math.max(t, 1);
    const den = Float64Array.from(v, (vj) => t === 0 ? 0 : Math.sqrt(vj / c2) + EPS);
    const sum = new Float64Array(n);
    if (mode === "mime") {
      const anchors = Array.from(
        { length: N },
        (_, i) => Array.from({ length: K }, (_, k) => gradient(w, i, round * K + k)),
      );
      const c = new Float64Array(n);
      for (const a of anchors.flat()) for (let j = 0; j < n; j++) c[j] = c[j]! + a[j]! / (N * K);
      push(c);
      const c1 = 1 - BETA1 ** t;
      const den1 = Float64Array.from(v, (vj) => Math.sqrt(vj / (1 - BETA2 ** t)) + EPS);
      for (let i = 0; i < N; i++) {
        const y = w.slice();
        for (let k = 0; k < K; k++) {
          const g = k === 0 ? anchors[i]![0]! : gradient(y, i, round * K + k);
          const a = anchors[i]![k]!;
          step(y, (j) => (1 - BETA1) * (g[j]! - a[j]! + c[j]!) + BETA1 * m[j]!, c1, den1, g);
        }
        for (let j = 0; j < n; j++) sum[j] = sum[j]! + y[j]! / N;
      }
      w.set(sum);
      continue;
    }
    const means = Array.from({ length: K }, () => new Float64Array(n));
    if (mode === "combined") {
      const mi = m.slice();
      for (let k = 0; k < K; k++) {
        for (let i = 0; i < N; i++) {
          const g = gradient(w, i, round * K + k);
          for (let j = 0; j < n; j++) means[k]![j] = means[k]![j]! + g[j]! / N;
        }
        for (let j = 0; j < n; j++) mi[j] = BETA1 * mi[j]! + (1 - BETA1) * means[k]![j]!;
        step(w, (j) => mi[j]!, 1 - BETA1 ** (t + k + 1), den, means[k]!);
      }
    } else {
      for (let i = 0; i < N; i++) {
        const y = w.slice(), mi = m.slice();
        for (let k = 0; k < K; k++) {
          const g = gradient(y, i, round * K + k);
          for (let j = 0; j < n; j++) {
            means[k]![j] = means[k]![j]! + g[j]! / N;
            mi[j] = BETA1 * mi[j]! + (1 - BETA1) * g[j]!;
          }
          step(y, (j) => mi[j]!, 1 - BETA1 ** (t + k + 1), den, g);
        }
        for (let j = 0; j < n; j++) sum[j] = sum[j]! + y[j]! / N;
      }
      w.set(sum);
    }
    for (const g of means) push(g);
  }
  return await job.evaluate(spec, Float32Array.from(w));
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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

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
