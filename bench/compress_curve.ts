/**
 * Bytes per round vs final validation loss, on the real kernel (bench/sim/federated_sim.ts):
 * each codec trains the same federated job (tiny byte-level GPT, one Brown genre per
 * client, local SGD with momentum, error feedback for the lossy codecs), and the table gives
 * bytes and final loss as ratios against fp32. Then the per-round aggregation time of each
 * rule a job can ask for on one round's real deltas, through the coordinator's combine step
 * (lib/strategy/combine_round.ts), as ratios against its default FedAvg (median over repeats).
 *
 *   deno task bench:compress-curve              # 8 clients, 12 rounds x 8 local steps
 *   deno task bench:compress-curve -- 20 8      # rounds, local steps
 *
 * @module
 */
import { createTrainer } from "../kernel/train_step.ts";
import { loadKernel } from "../kernel/wasm_module.ts";
import { initWeights, paramLayout } from "../kernel/params.ts";
import { loadBrownShards } from "../kernel/data.ts";
import { defaultHyper } from "../lib/round/local_training.ts";
import { runFederatedSim, simCombineSpec, type SimDpOptions } from "./sim/federated_sim.ts";
import type { Codec } from "../lib/compress/codec.ts";
import { fp32Codec } from "../lib/compress/fp32.ts";
import { int8Codec } from "../lib/compress/quantize_int8.ts";
import { int4Codec } from "../lib/compress/quantize_int4.ts";
import { topKCodec } from "../lib/compress/top_k.ts";
import { topKInt8Codec } from "../lib/compress/top_k_int8.ts";
import { combinePlanOf, combineRound, type RoundUpdate } from "../lib/strategy/combine_round.ts";
import type { JobSpec } from "../lib/job/job_spec.ts";
import { DpFedAvg } from "../lib/strategy/dp_fed_avg.ts";

const ROUNDS = Number(Deno.args[0] ?? 12);
const LOCAL_STEPS = Number(Deno.args[1] ?? 8);
const CLIENTS = 8;
/** Clients of the strategy timing: Bulyan with f = 3 needs 4f + 3. */
const TIMING_CLIENTS = 15;
const TIMING_F = 3;
const TIMING_REPEATS = 20;
const DENSITIES = [0.1, 0.01, 0.003, 0.001];

const kernel = loadKernel();
const trainer = createTrainer(kernel);
const shards = loadBrownShards();
const hyper = defaultHyper({ kind: "gpt", maxT: 32, layers: 1, heads: 2, width: 32 }, {
  B: 8,
  T: 32,
  lr: 0.3,
});
hyper.optimizer = { kind: "sgd", momentum: 0.9, weightDecay: 0 };
const initial = initWeights(kernel, paramLayout(hyper.model), 1);
const job = { hyper, shards, clients: CLIENTS, rounds: ROUNDS, localSteps: LOCAL_STEPS };

const pct = (f: number) => `${+(f * 100).toFixed(2)}%`;
const codecs: [string, Codec, boolean][] = [
  ["fp32", fp32Codec(), true],
  ["int8", int8Codec(), true],
  ["int4", int4Codec(), true],
  ...DENSITIES.flatMap((f): [string, Codec, boolean][] => [
    [`topk ${pct(f)}`, topKCodec({ fraction: f }), true],
    [`topk-int8 ${pct(f)}`, topKInt8Codec({ fraction: f }), true],
  ]),
  ["topk-int8 1% no EF", topKInt8Codec({ fraction: 0.01 }), false],
];

console.log(
  `# ${paramLayout(hyper.model).size} params, ${CLIENTS} clients, ${ROUNDS} rounds x ` +
    `${LOCAL_STEPS} local SGD steps (B ${hyper.B}, T ${hyper.T})`,
);
console.log("\n## Bytes per round vs final validation loss (ratios against fp32)\n");
console.log("| codec | bytes/client/round | bytes ratio | final loss | loss ratio | seconds |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
let fp32 = { bytes: NaN, loss: NaN };
for (const [name, codec, errorFeedback] of codecs) {
  const t0 = performance.now();
  const r = runFederatedSim(trainer, initial, { ...job, codec, errorFeedback });
  const bytes = r.bytesPerClient.reduce((a, b) => a + b, 0) / r.bytesPerClient.length;
  const loss = r.valLoss.at(-1) ?? NaN;
  if (name === "fp32") fp32 = { bytes, loss };
  console.log(
    `| ${name} | ${bytes.toFixed(0)} | ${(fp32.bytes / bytes).toFixed(1)}x | ${
      loss.toFixed(4)
    } | ` +
      `${(loss / fp32.loss).toFixed(4)} | ${((performance.now() - t0) / 1e3).toFixed(1)} |`,
  );
}

// One round's real (decoded fp32) deltas, as the combine step receives them.
let captured: RoundUpdate[] = [];
runFederatedSim(trainer, initial, {
  ...job,
  clients: TIMING_CLIENTS,
  rounds: 1,
  observe: (_, updates) => captured = [...updates],
});
const length = initial.length;

function medianMs(fn: () => void): number {
  const runs: number[] = [];
  for (let r = 0; r < TIMING_REPEATS; r++) {
    const t0 = performance.now();
    fn();
    runs.push(performance.now() - t0);
  }
  runs.sort((a, b) => a - b);
  return runs[runs.length >> 1]!;
}

/** The coordinator's combine step over the captured round for a job's rule. */
function combineWith(robust?: JobSpec["robust"], dp?: SimDpOptions): () => void {
  const spec = simCombineSpec({ model: hyper.model, robust, dp });
  const plan = combinePlanOf(spec, 0, dp && new DpFedAvg({ ...dp, seed: 1 }));
  return () => void combineRound(plan, captured);
}

const strategies: [string, () => void][] = [
  ["fedavg", combineWith()],
  ["median", combineWith({ strategy: "median" })],
  ["trimmed-mean 0.2", combineWith({ strategy: "trimmed-mean", beta: 0.2 })],
  ["krum", combineWith({ strategy: "krum", f: TIMING_F })],
  ["multi-krum", combineWith({ strategy: "multi-krum", f: TIMING_F })],
  ["bulyan", combineWith({ strategy: "bulyan", f: TIMING_F })],
  ["dp-fedavg", combineWith(undefined, { clip: 0.5, noiseMultiplier: 1 })],
];

console.log(
  `\n## Aggregation time per round, ${TIMING_CLIENTS} real updates x ${length} params ` +
    `(median of ${TIMING_REPEATS})\n`,
);
console.log("| strategy | ms/round | vs fedavg |");
console.log("| --- | ---: | ---: |");
let fedAvgMs = NaN;
for (const [name, fn] of strategies) {
  fn(); // warm up
  const ms = medianMs(fn);
  if (name === "fedavg") fedAvgMs = ms;
  console.log(`| ${name} | ${ms.toFixed(3)} | ${(ms / fedAvgMs).toFixed(2)}x |`);
}
