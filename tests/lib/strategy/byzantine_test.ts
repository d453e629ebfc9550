import assert from "node:assert/strict";
import { Prng } from "../../../lib/crypto/prng.ts";
import type { ClientUpdate, Strategy } from "../../../lib/strategy/strategy.ts";
import { FedMedian } from "../../../lib/strategy/fed_median.ts";
import { TrimmedMean } from "../../../lib/strategy/trimmed_mean.ts";
import { Krum } from "../../../lib/strategy/krum.ts";
import { Bulyan } from "../../../lib/strategy/bulyan.ts";
import { weightedMeanOf } from "./_fixtures.ts";

const D = 2000;
const HONEST = 20;

function dist(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

/** 20 honest updates around a true delta, 5 Byzantine: 2 huge noise, 2 sign-flip x10, 1 x100. */
function scenario(): { honest: ClientUpdate[]; all: ClientUpdate[] } {
  const rng = new Prng(77);
  const truth = Float32Array.from({ length: D }, () => 0.01 * rng.nextGaussian());
  const honest = Array.from({ length: HONEST }, (_, j) => ({
    nodeId: `0xh${j.toString().padStart(2, "0")}`,
    delta: truth.map((t) => t + 0.003 * rng.nextGaussian()),
    numSamples: 100 + j,
  }));
  const byz = (k: number, delta: Float32Array): ClientUpdate => ({
    nodeId: `0xb${k}`,
    delta,
    numSamples: 500, // lying about samples too
  });
  const all = [
    ...honest,
    byz(0, Float32Array.from({ length: D }, () => 10 * rng.nextGaussian())),
    byz(1, Float32Array.from({ length: D }, () => 10 * rng.nextGaussian())),
    byz(2, honest[0]!.delta.map((x) => -10 * x)),
    byz(3, honest[1]!.delta.map((x) => -10 * x)),
    byz(4, honest[2]!.delta.map((x) => 100 * x)),
  ];
  return { honest, all };
}

Deno.test("20 honest + 5 Byzantine: robust strategies stay near the honest mean, FedAvg does not", () => {
  // Prepare
  const { honest, all } = scenario();
  const target = weightedMeanOf(honest);
  const scale = Math.sqrt(target.reduce((s, x) => s + x * x, 0));
  const strategies: Strategy[] = [
    new FedMedian(),
    new TrimmedMean({ beta: 0.2 }),
    new Krum({ f: 5 }),
    new Krum({ f: 5, m: Infinity }),
    new Bulyan({ f: 5 }),
  ];
  // Execute
  const plain = dist(weightedMeanOf(all), target) / scale;
  const rows = strategies.map((s) => {
    const r = s.aggregate(all);
    return { strategy: s.name, relDistance: dist(r.delta, target) / scale, rejected: r.rejected };
  });
  console.table([
    { strategy: "fedavg (inline)", relDistance: plain, rejected: 0 },
    ...rows.map((r) => ({ ...r, rejected: r.rejected.length })),
  ]);
  // Assert
  assert.ok(plain > 10, `plain weighted mean only ${plain} off`);
  for (const r of rows) assert.ok(r.relDistance < 0.4, `${r.strategy}: ${r.relDistance}`);
  for (const r of rows.filter((r) => /krum|bulyan/.test(r.strategy))) {
    const byzantineRejected = r.rejected.filter((x) => x.nodeId.startsWith("0xb")).length;
    assert.equal(byzantineRejected, 5, `${r.strategy} let a Byzantine update through`);
  }
});
