/**
 * The issue's goal measured on the reference job itself (`deno task demo`'s defaults when it was
 * measured, REFERENCE_DEMO: 8 nodes, one Brown genre each, 5 rounds x 20 AdamW steps of B 8 of the
 * 2-layer width-64 GPT, the coordinator's validation batches): for each codec, bytes per node per round and
 * final validation loss, as ratios against fp32 deltas in the same run. Then fp32 vs the
 * partition codec over other job seeds (other initial weights, batches and partitions).
 *
 *   deno task bench:compress-reference          # the curve + 3 seeds
 *   deno task bench:compress-reference -- 10    # 10 rounds instead of 5
 *
 * The full-protocol check (coordinator, workers, chain) of the same claim is tests/demo_test.ts.
 *
 * @module
 */
import { createTrainer } from "../kernel/train_step.ts";
import { loadKernel } from "../kernel/wasm_module.ts";
import { evalBatches, loadBrownShards } from "../kernel/data.ts";
import { decodeCheckpoint } from "../lib/model/checkpoint.ts";
import { prepareJob } from "../lib/job/job_owner.ts";
import { type JobSpec, roundHyper, taskSeed } from "../lib/job/job_spec.ts";
import { Store } from "../lib/store/store.ts";
import { MemoryBlockstore } from "../lib/store/memory_blockstore.ts";
import { runFederatedSim } from "./sim/federated_sim.ts";
import { codecFor } from "../lib/strategy/select.ts";
import { VAL_BATCHES } from "../lib/coordinator/job.ts";
import { REFERENCE_DEMO } from "./_reference_demo.ts";

const ROUNDS = Number(Deno.args[0] ?? REFERENCE_DEMO.rounds);
const SEEDS = [1337, 1, 2, 3];
const trainer = createTrainer(loadKernel());
const shards = loadBrownShards();
const d = REFERENCE_DEMO;

async function referenceJob(seed: number) {
  const store = new Store(new MemoryBlockstore());
  const { spec } = await prepareJob(store, {
    model: { kind: "gpt", maxT: d.T, layers: d.layers, heads: 4, width: d.width },
    shards,
    rounds: ROUNDS,
    localSteps: d.localSteps,
    B: d.B,
    T: d.T,
    seed,
  });
  const initial = decodeCheckpoint(await store.get(spec.initialWeights)).weights;
  const hyper0 = { ...roundHyper(spec, 0), accumSteps: 1 };
  const batches = evalBatches(await store.get(spec.validation), d.B, d.T, VAL_BATCHES);
  const evaluate = (w: Float32Array) =>
    batches.reduce((a, b) => a + trainer.evalLoss(w, b, hyper0), 0) / batches.length;
  return { spec, initial, evaluate };
}

async function run(seed: number, compression?: NonNullable<JobSpec["compression"]>) {
  const { spec, initial, evaluate } = await referenceJob(seed);
  const t0 = performance.now();
  const r = runFederatedSim(trainer, initial, {
    hyper: roundHyper(spec, 0),
    roundHyper: (round) => roundHyper(spec, round),
    evaluate,
    shards,
    clients: d.nodes,
    rounds: ROUNDS,
    localSteps: d.localSteps,
    seed,
    taskSeed: (client) => taskSeed(spec, client % shards.length),
    ...(compression?.codec === "partition"
      ? { partition: { jobSeed: spec.seed, parts: compression.parts } }
      : compression
      ? { codec: codecFor(compression) }
      : {}),
  });
  const bytes = r.bytesPerClient.reduce((a, b) => a + b, 0) / r.bytesPerClient.length;
  return {
    bytes,
    raw: initial.length * 4,
    loss: r.valLoss.at(-1)!,
    initial: r.initialLoss,
    s: (performance.now() - t0) / 1000,
  };
}

const curve: [string, NonNullable<JobSpec["compression"]> | undefined][] = [
  ["fp32", undefined],
  ["int8", { codec: "int8" }],
  ["int4", { codec: "int4" }],
  ["topk-int8 10%", { codec: "topk-int8", fraction: 0.1 }],
  ["topk-int8 1%", { codec: "topk-int8", fraction: 0.01 }],
  ["partition 2", { codec: "partition", parts: 2 }],
  ["partition 4", { codec: "partition", parts: 4 }],
  ["partition 8", { codec: "partition", parts: 8 }],
  ["partition 16", { codec: "partition", parts: 16 }],
];

const first = await referenceJob(SEEDS[0]!);
console.log(
  `# reference job: ${first.initial.length} params, ${d.nodes} nodes, ${ROUNDS} rounds x ` +
    `${d.localSteps} AdamW steps of B ${d.B} (lr ${first.spec.optimizer.lr}, ${
      first.spec.optimizer.minLrRatio < 1 ? "cosine over rounds" : "constant"
    }), seed ${SEEDS[0]}`,
);
console.log("\n## Bytes per node per round vs final validation loss (ratios against fp32)\n");
console.log(
  "| codec | bytes/node/round | fp32 bytes / bytes | final loss | loss / fp32 loss | s |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
let base = { bytes: NaN, loss: NaN };
for (const [name, c] of curve) {
  const r = await run(SEEDS[0]!, c);
  if (!c) base = { bytes: r.raw, loss: r.loss };
  console.log(
    `| ${name} | ${r.bytes.toFixed(0)} | ${(base.bytes / r.bytes).toFixed(1)}x | ` +
      `${r.loss.toFixed(4)} | ${(r.loss / base.loss).toFixed(4)} | ${r.s.toFixed(1)} |`,
  );
}
console.log(`\n(fp32 bytes = 4 per parameter = ${base.bytes}; payloads add a 12-byte header.)`);

console.log("\n## fp32 vs partition 8 over job seeds\n");
console.log("| seed | fp32 loss | partition loss | loss ratio | bytes ratio |");
console.log("| ---: | ---: | ---: | ---: | ---: |");
const ratios: number[] = [];
for (const seed of SEEDS) {
  const f = await run(seed);
  const p = await run(seed, { codec: "partition", parts: 8 });
  ratios.push(p.loss / f.loss);
  console.log(
    `| ${seed} | ${f.loss.toFixed(4)} | ${p.loss.toFixed(4)} | ${(p.loss / f.loss).toFixed(4)} | ` +
      `${(p.raw / p.bytes).toFixed(1)}x |`,
  );
}
const sorted = [...ratios].sort((a, b) => a - b);
console.log(`\nmedian loss ratio ${sorted[Math.floor(sorted.length / 2)]!.toFixed(4)}`);
