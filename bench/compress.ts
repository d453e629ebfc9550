/**
 * Compression and aggregation benchmark: bytes per update for each codec and per-round
 * aggregation time for each strategy, as ratios against fp32 + FedAvg (an inline
 * weighted mean; fed_avg.ts is benchmarked elsewhere). Medians over repeats.
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
import type { ClientUpdate, Strategy } from "../lib/strategy/strategy.ts";
import { FedMedian } from "../lib/strategy/fed_median.ts";
import { TrimmedMean } from "../lib/strategy/trimmed_mean.ts";
import { Krum } from "../lib/strategy/krum.ts";
import { Bulyan } from "../lib/strategy/bulyan.ts";
import { NormClipping } from "../lib/strategy/norm_clipping.ts";
import { DpFedAvg } from "../lib/strategy/dp_fed_avg.ts";
import { FedBuff } from "../lib/strategy/fed_buff.ts";

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

function weightedMean(updates: readonly ClientUpdate[]): Float32Array {
  const acc = new Float64Array(PARAMS);
  let total = 0;
  for (const u of updates) {
    total += u.numSamples;
    for (let i = 0; i < PARAMS; i++) acc[i]! += u.numSamples * u.delta[i]!;
  }
  const out = new Float32Array(PARAMS);
  for (let i = 0; i < PARAMS; i++) out[i] = acc[i]! / total;
  return out;
}

const fedAvgInline: Strategy = {
  name: "fedavg-inline",
  aggregate: (u) => ({ delta: weightedMean(u), accepted: u.map((x) => x.nodeId), rejected: [] }),
};

const rng = new Prng(1);
const truth = Float32Array.from({ length: PARAMS }, () => 1e-3 * rng.nextGaussian());
const updates: ClientUpdate[] = Array.from({ length: CLIENTS }, (_, j) => ({
  nodeId: `0x${j.toString(16).padStart(2, "0")}`,
  delta: truth.map((t) => t + 3e-4 * rng.nextGaussian()),
  numSamples: 100 + j,
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
const strategies: Strategy[] = [
  fedAvgInline,
  new FedMedian(),
  new TrimmedMean({ beta: 0.2 }),
  new Krum({ f: 4 }),
  new Krum({ f: 4, m: Infinity }),
  new Bulyan({ f: 4 }),
  new NormClipping(fedAvgInline),
  new DpFedAvg({ clip: 0.5, noiseMultiplier: 1.1, seed: 1 }),
];
let baseMs = 0;
const strategyRows = strategies.map((s, i) => {
  const ms = time(() => void s.aggregate(updates));
  if (i === 0) baseMs = ms;
  return { strategy: s.name, "ms / round": +ms.toFixed(0), "x fedavg": +(ms / baseMs).toFixed(2) };
});
const buffMs = time(() => {
  const buf = new FedBuff({ length: PARAMS, bufferSize: CLIENTS });
  for (const u of updates) buf.submit(u, 0);
});
strategyRows.push({
  strategy: "fedbuff (K=20)",
  "ms / round": +buffMs.toFixed(0),
  "x fedavg": +(buffMs / baseMs).toFixed(2),
});
console.table(strategyRows);
