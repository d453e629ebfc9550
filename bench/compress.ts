/**
 * Compression and aggregation benchmark: bytes per update for each codec, and per-round
 * aggregation time for each rule a job can ask for through the coordinator's combine step
 * (lib/strategy/combine_round.ts), as ratios against fp32 and its default streaming exact
 * FedAvg. Medians over repeats.
 *
 *   deno task bench:compress                 # 20 updates x 1M params, 3 repeats
 *   deno task bench:compress -- 200000 5     # params, repeats
 *
 * @module
 */
import { Prng } from "../lib/crypto/prng.ts";
import { type Codec, commitPayload, createErrorFeedback } from "../lib/compress/codec.ts";
import { fp32Codec } from "../lib/compress/fp32.ts";
import { int8Codec } from "../lib/compress/quantize_int8.ts";
import { int4Codec } from "../lib/compress/quantize_int4.ts";
import { topKCodec } from "../lib/compress/top_k.ts";
import { topKInt8Codec } from "../lib/compress/top_k_int8.ts";
import { partitionCodec, partitionSeed } from "../lib/compress/partition.ts";
import { combinePlanOf, combineRound, type RoundUpdate } from "../lib/strategy/combine_round.ts";
import type { JobSpec } from "../lib/job/job_spec.ts";
import { DpFedAvg } from "../lib/strategy/dp_fed_avg.ts";
import { simCombineSpec, type SimDpOptions } from "./sim/federated_sim.ts";

const PARAMS = Number(Deno.args[0] ?? 1_000_000);
const REPEATS = Number(Deno.args[1] ?? 3);
const CLIENTS = 20;

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

function time(fn: () => void): number {
  const runs: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const t0 = performance.now();
    fn();
    runs.push(performance.now() - t0);
  }
  return medianOf(runs);
}

const rng = new Prng(1);
const truth = Float32Array.from({ length: PARAMS }, () => 1e-3 * rng.nextGaussian());
const updates: RoundUpdate[] = Array.from({ length: CLIENTS }, (_, j) => ({
  nodeId: `0x${j.toString(16).padStart(2, "0")}`,
  delta: truth.map((t) => t + 3e-4 * rng.nextGaussian()),
  numSamples: 100 + j,
  slot: j,
}));

console.log(`# ${CLIENTS} updates x ${PARAMS} params, median of ${REPEATS} repeats`);
console.log("\n## Codecs (one update)");
const codecs: [string, Codec][] = [
  ["fp32", fp32Codec()],
  ["int8", int8Codec()],
  ["int4", int4Codec()],
  ["topk (1%)", topKCodec({ fraction: 0.01 })],
  ["topk-int8 (1%)", topKInt8Codec({ fraction: 0.01 })],
  ["topk-int8 (0.1%)", topKInt8Codec({ fraction: 0.001 })],
  ["partition (8 parts)", partitionCodec({ seed: partitionSeed(1, 0), slot: 0, parts: 8 })],
];
const fp32Bytes = 4 * PARAMS;
const delta = updates[0]!.delta;
const codecRows = codecs.map(([name, codec]) => {
  let bytes = new Uint8Array();
  const encodeMs = time(() => {
    bytes = codec.encode(delta, createErrorFeedback(PARAMS)).bytes;
  });
  const decodeMs = time(() => void codec.decode(bytes, PARAMS));
  const commitMs = time(() => void commitPayload(bytes));
  return {
    codec: name,
    bytes: bytes.length,
    "x fewer than fp32": +(fp32Bytes / bytes.length).toFixed(1),
    "encode ms": +encodeMs.toFixed(1),
    "decode ms": +decodeMs.toFixed(1),
    "digest+merkle ms": +commitMs.toFixed(1),
  };
});
console.table(codecRows);

console.log("\n## Strategies (one round)");
/** The synthetic updates belong to no model; the plan reads the model only for layer rules. */
const MODEL = { kind: "gpt", maxT: 1, layers: 1, heads: 1, width: 4 } as const;

/** The coordinator's combine step over the round for a job's rule. */
function combineWith(robust?: JobSpec["robust"], dp?: SimDpOptions): () => void {
  const spec = simCombineSpec({ model: MODEL, robust, dp });
  const plan = combinePlanOf(spec, 0, dp && new DpFedAvg({ ...dp, seed: 1 }));
  return () => void combineRound(plan, updates);
}

const strategies: [string, () => void][] = [
  ["fedavg (streaming exact)", combineWith()],
  ["median", combineWith({ strategy: "median" })],
  ["trimmed-mean 0.2", combineWith({ strategy: "trimmed-mean", beta: 0.2 })],
  ["krum f=4", combineWith({ strategy: "krum", f: 4 })],
  ["multi-krum f=4", combineWith({ strategy: "multi-krum", f: 4 })],
  ["bulyan f=4", combineWith({ strategy: "bulyan", f: 4 })],
  ["dp-fedavg", combineWith(undefined, { clip: 0.5, noiseMultiplier: 1.1 })],
];
let baseMs = 0;
const strategyRows = strategies.map(([strategy, run], i) => {
  const ms = time(run);
  if (i === 0) baseMs = ms;
  return { strategy, "ms / round": +ms.toFixed(0), "x fedavg": +(ms / baseMs).toFixed(2) };
});
console.table(strategyRows);
