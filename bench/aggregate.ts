/**
 * Aggregation throughput and one simulated 1,000-node round, in one run:
 *
 *     deno task bench:aggregate
 *
 * Throughput is input bytes (updates x params x 4) per second. References: a plain Float32Array
 * loop `acc[j] += n * d[j]` (what numpy's `acc += n * d` does, order-dependent) and memcpy
 * (`TypedArray.set`), the ceiling for anything that reads every update once.
 *
 * @module
 */
import { FedAvg } from "../lib/strategy/fed_avg.ts";
import { StreamingFedAvg } from "../lib/strategy/streaming_fed_avg.ts";
import type { ClientUpdate } from "../lib/strategy/strategy.ts";

const UPDATES = 32, PARAMS = 4 * 1024 * 1024, DISTINCT = 8;
const ROUND_NODES = 1_000, ROUND_PARAMS = 100_000;

function makeUpdates(count: number, params: number, distinct: number): ClientUpdate[] {
  let x = 12345;
  const buffers = Array.from({ length: distinct }, () => {
    const d = new Float32Array(params);
    for (let j = 0; j < params; j++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      d[j] = ((x >>> 0) / 2 ** 32 - 0.5) * 1e-3;
    }
    return d;
  });
  return Array.from({ length: count }, (_, i) => ({
    nodeId: `0x${i.toString(16).padStart(40, "0")}`,
    delta: buffers[i % distinct]!,
    numSamples: 100 + (i * 37) % 400,
  }));
}

/** Best of `runs` wall times in seconds. */
function best(runs: number, fn: () => void): number {
  let min = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    min = Math.min(min, (performance.now() - t0) / 1e3);
  }
  return min;
}

// One simulated round: 1,000 nodes stream in, each update dropped after it is counted.
const live = () => {
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external; // JS heap + ArrayBuffers
};
const before = Deno.memoryUsage();
let peakRss = before.rss, peakLive = live();
const t0 = performance.now();
const acc = new StreamingFedAvg(ROUND_PARAMS);
const template = makeUpdates(4, ROUND_PARAMS, 4);
for (let i = 0; i < ROUND_NODES; i++) {
  const t = template[i % 4]!;
  // A fresh buffer per node, as if just downloaded and decoded.
  acc.add({ nodeId: `node-${i}`, delta: t.delta.slice(), numSamples: 50 + (i % 100) });
  if (i % 50 === 0) {
    peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
    peakLive = Math.max(peakLive, live());
  }
}
const result = acc.finish();
const ms = performance.now() - t0;
const after = Deno.memoryUsage();
peakRss = Math.max(peakRss, after.rss);
console.log(
  `round: ${ROUND_NODES} nodes x ${ROUND_PARAMS} params streamed in ${ms.toFixed(0)} ms ` +
    `(${((ROUND_NODES * ROUND_PARAMS * 4) / (ms / 1e3) / 1e9).toFixed(2)} GB/s), ` +
    `${result.accepted.length} accepted; peak rss ${(peakRss / 2 ** 20).toFixed(0)} MiB ` +
    `(+${((peakRss - before.rss) / 2 ** 20).toFixed(0)} MiB), peak heap+buffers ${
      (peakLive / 2 ** 20).toFixed(0)
    } MiB; updates total ${(ROUND_NODES * ROUND_PARAMS * 4 / 2 ** 20).toFixed(0)} MiB, ` +
    `accumulator ${(ROUND_PARAMS * 24 / 2 ** 20).toFixed(1)} MiB`,
);

const updates = makeUpdates(UPDATES, PARAMS, DISTINCT);
const bytes = UPDATES * PARAMS * 4;
const gbps = (s: number) => bytes / s / 1e9;

const memcpy = best(3, () => {
  const dst = new Float32Array(PARAMS);
  for (const u of updates) dst.set(u.delta);
});
const loop = best(3, () => {
  const acc = new Float32Array(PARAMS);
  for (const u of updates) {
    const n = u.numSamples, d = u.delta;
    for (let j = 0; j < PARAMS; j++) acc[j] = acc[j]! + n * d[j]!;
  }
});
const sorted = best(3, () => new FedAvg({ accumulation: "sorted-f64" }).aggregate(updates));
const exact = best(3, () => new FedAvg().aggregate(updates));
const streaming = best(3, () => {
  const acc = new StreamingFedAvg(PARAMS);
  for (const u of updates) acc.add(u);
  acc.finish();
});

console.log(
  `aggregation, ${UPDATES} updates x ${PARAMS} params (${(bytes / 1e9).toFixed(2)} GB in)`,
);
const rows: [string, number][] = [
  ["memcpy (TypedArray.set)", memcpy],
  ["plain f32 loop (numpy-style)", loop],
  ["FedAvg sorted-f64", sorted],
  ["FedAvg exact (default)", exact],
  ["StreamingFedAvg exact", streaming],
];
for (const [name, s] of rows) {
  console.log(
    `  ${name.padEnd(30)} ${gbps(s).toFixed(2).padStart(6)} GB/s  ${
      (s * 1e3).toFixed(0).padStart(5)
    } ms` +
      `  x${(memcpy / s).toFixed(3)} of memcpy  x${(loop / s).toFixed(2)} of plain loop`,
  );
}
