import assert from "node:assert/strict";
import { Prng } from "../../../lib/crypto/prng.ts";
import { partIndices, partitionCodec, partitionSeed } from "../../../lib/compress/partition.ts";
import { aggregatePartitioned, type PartitionedUpdate } from "../../../lib/strategy/partitioned.ts";
import { FedAvg } from "../../../lib/strategy/fed_avg.ts";
import { Krum } from "../../../lib/strategy/krum.ts";
import { TrimmedMean } from "../../../lib/strategy/trimmed_mean.ts";
import type { Strategy } from "../../../lib/strategy/strategy.ts";

const N = 4_096;
const PARTS = 3;
const SEED = partitionSeed(11, 2);

/** 15 nodes: truth + small noise, encoded and decoded with the partition codec of their slot. */
function round(attack: (slot: number, d: Float32Array) => Float32Array): PartitionedUpdate[] {
  const rng = new Prng(5);
  const truth = Float32Array.from({ length: N }, () => rng.nextGaussian() * 1e-2);
  return Array.from({ length: 15 }, (_, slot) => {
    const honest = truth.map((t) => t + 1e-3 * rng.nextGaussian());
    const codec = partitionCodec({ seed: SEED, slot, parts: PARTS });
    const delta = codec.decode(codec.encode(attack(slot, honest)).bytes, N);
    return { nodeId: `0x${slot.toString(16).padStart(2, "0")}`, delta, numSamples: 10, slot };
  });
}

function rmsTo(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s / a.length);
}

Deno.test("partitioned: the rule runs once per part, over that part's senders only", () => {
  const updates = round((_, d) => d);
  const calls: number[] = [];
  const out = aggregatePartitioned(updates, {
    seed: SEED,
    parts: PARTS,
    strategyFor: (n) => {
      calls.push(n);
      return new FedAvg();
    },
  });
  assert.deepEqual(calls, [5, 5, 5]);
  assert.equal(out.accepted.length, 15);
  // Per coordinate: the mean of its 5 senders' values as sent (the x parts scale undone).
  for (const p of [0, 1, 2]) {
    const senders = updates.filter((u) => u.slot % PARTS === p);
    for (const i of partIndices(N, SEED, PARTS, p).slice(0, 50)) {
      const want = senders.reduce((a, u) => a + u.delta[i]! / PARTS, 0) / senders.length;
      assert.ok(Math.abs(out.delta[i]! - want) < 1e-6, `coordinate ${i}`);
    }
  }
});

Deno.test("partitioned: one attacker per part is removed by a per-part robust rule", () => {
  const attacks: Record<number, (d: Float32Array) => Float32Array> = {
    12: (d) => d.map((x) => -10 * x),
    13: (d) => d.map((x) => 100 * x),
    14: (d) => d.map((_, i) => Math.sin(i)),
  };
  const clean = aggregatePartitioned(round((_, d) => d), {
    seed: SEED,
    parts: PARTS,
    strategyFor: () => new FedAvg(),
  }).delta;
  const attacked = round((slot, d) => attacks[slot]?.(d) ?? d);
  const run = (strategyFor: (n: number) => Strategy) =>
    aggregatePartitioned(attacked, { seed: SEED, parts: PARTS, strategyFor });
  const plain = run(() => new FedAvg());
  const trimmed = run(() => new TrimmedMean({ beta: 0.2 }));
  const krum = run(() => new Krum({ f: 1, m: Infinity }));
  const scale = rmsTo(clean, new Float32Array(N));
  assert.ok(rmsTo(plain.delta, clean) > 5 * scale, "FedAvg is dragged away");
  assert.ok(rmsTo(trimmed.delta, clean) < 0.3 * scale, "trimmed mean stays near the clean mean");
  assert.ok(rmsTo(krum.delta, clean) < 0.3 * scale, "Multi-Krum stays near the clean mean");
  assert.deepEqual(krum.rejected.map((r) => r.nodeId).sort(), ["0x0c", "0x0d", "0x0e"]);
});

Deno.test("partitioned: a part nobody sent stays 0; bad input is refused", () => {
  const updates = round((_, d) => d).filter((u) => u.slot % PARTS !== 2);
  const out = aggregatePartitioned(updates, {
    seed: SEED,
    parts: PARTS,
    strategyFor: () => new FedAvg(),
  });
  for (const i of partIndices(N, SEED, PARTS, 2)) assert.equal(out.delta[i], 0);
  const o = { seed: SEED, parts: PARTS, strategyFor: () => new FedAvg() };
  assert.throws(() => aggregatePartitioned([], o), /no update/);
  const [a, b] = updates as [PartitionedUpdate, PartitionedUpdate];
  assert.throws(
    () => aggregatePartitioned([a, { ...b, delta: new Float32Array(3) }], o),
    /3 values, not 4096/,
  );
  assert.throws(() => aggregatePartitioned([{ ...a, slot: -1 }], o), /slot -1/);
});
