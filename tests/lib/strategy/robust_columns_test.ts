import assert from "node:assert/strict";
import {
  closestMeanColumns,
  medianColumns,
  squaredDistanceMatrix,
  trimmedMeanColumns,
} from "../../../lib/strategy/_columns.ts";
import { coordinateWise, sortedMedian, squaredDistances } from "../../../lib/strategy/_robust.ts";
import { exactWeightedMean } from "../../../lib/strategy/exact_weighted_mean.ts";
import { FedMedian } from "../../../lib/strategy/fed_median.ts";
import { TrimmedMean } from "../../../lib/strategy/trimmed_mean.ts";
import { Krum } from "../../../lib/strategy/krum.ts";
import { Bulyan } from "../../../lib/strategy/bulyan.ts";
import type { ClientUpdate } from "../../../lib/strategy/strategy.ts";
import { finalizeUnits, referenceSums } from "./_exact_reference.ts";
import { randomUpdates, sameBytes, shuffled } from "./_updates.ts";

/** Counts (1, 2, odd, even, past a block of slots) and lengths (short, odd, past a block). */
const SHAPES = [[1, 13], [2, 100], [7, 4_100], [32, 9_000], [33, 300], [100, 3_000]] as const;

/** Exact mean of plain numbers through the BigInt reference. */
function exactMean(values: readonly number[]): number {
  const s = referenceSums(values.map((x) => new Float32Array([x])), values.map(() => 1))[0]!;
  return finalizeUnits(s, values.length);
}

function columnsOf(updates: readonly ClientUpdate[], j: number): number[] {
  return updates.map((u) => u.delta[j]!).sort((a, b) => a - b);
}

Deno.test("wasm median equals the plain-TypeScript coordinateWise median", () => {
  for (const [count, length] of SHAPES) {
    // Prepare
    const updates = randomUpdates(count, length, count + length);
    // Execute
    const median = medianColumns(updates.map((u) => u.delta)).state!;
    // Assert
    const reference = coordinateWise(updates, length, sortedMedian);
    assert.deepEqual([...median], [...reference], `${count} x ${length}`);
  }
});

Deno.test("wasm trimmed mean and Bulyan window equal sorted columns summed exactly", () => {
  for (const [count, length] of SHAPES) {
    // Prepare
    const updates = randomUpdates(count, length, 3 * count + length);
    const trim = Math.floor(0.2 * count);
    const beta = Math.max(1, count - 2 * Math.floor(count / 5));
    // Execute
    const trimmed = trimmedMeanColumns(updates.map((u) => u.delta), () => trim).state!;
    const closest = closestMeanColumns(updates.map((u) => u.delta), beta).state!;
    // Assert
    for (let j = 0; j < length; j++) {
      const sorted = columnsOf(updates, j);
      assert.equal(trimmed[j], exactMean(sorted.slice(trim, count - trim)), `trim ${count}/${j}`);
      const med = sortedMedian(Float64Array.from(sorted));
      let [lo, hi] = [0, count];
      while (hi - lo > beta) med - sorted[lo]! > sorted[hi - 1]! - med ? lo++ : hi--;
      assert.equal(closest[j], exactMean(sorted.slice(lo, hi)), `window ${count}/${j}`);
    }
  }
});

Deno.test("wasm Bulyan window equals the two-pointer drop on columns full of ties", () => {
  // Prepare: small integers, so medians, distances and windows tie all the time
  for (const count of [5, 6, 9, 10, 17]) {
    const updates = randomUpdates(count, 999, count);
    for (const u of updates) u.delta.forEach((x, j) => (u.delta[j] = Math.round(x * 1e9) % 3));
    for (let beta = 1; beta <= count; beta++) {
      // Execute
      const closest = closestMeanColumns(updates.map((u) => u.delta), beta).state!;
      // Assert
      for (let j = 0; j < 999; j++) {
        const sorted = columnsOf(updates, j);
        const med = sortedMedian(Float64Array.from(sorted));
        let [lo, hi] = [0, count];
        while (hi - lo > beta) med - sorted[lo]! > sorted[hi - 1]! - med ? lo++ : hi--;
        assert.equal(closest[j], exactMean(sorted.slice(lo, hi)), `${count}/${beta}/${j}`);
      }
    }
  }
});

Deno.test("wasm squared distances match the plain loop to 1e-13 and are exactly symmetric", () => {
  for (const [count, length] of SHAPES) {
    const updates = randomUpdates(count, length, count * length);
    const d = squaredDistanceMatrix(updates.map((u) => u.delta)).state!;
    const reference = squaredDistances(updates);
    for (let a = 0; a < count; a++) {
      for (let b = 0; b < count; b++) {
        const [x, y] = [d[a * count + b]!, reference[a * count + b]!];
        assert.ok(Math.abs(x - y) <= 1e-13 * y, `${count}: (${a}, ${b}) ${x} vs ${y}`);
        assert.equal(x, d[b * count + a]);
      }
    }
  }
});

Deno.test("robust rules: identical bytes for any arrival order", () => {
  // Prepare: 25 updates of 5,000 coordinates, with repeated values and signed zeros
  const updates = randomUpdates(25, 5_000, 42);
  updates.forEach((u, i) => {
    u.delta[7] = i % 2 ? -0 : 0;
    u.delta[8] = 0.25;
  });
  const rules = [
    new FedMedian(),
    new TrimmedMean({ beta: 0.2 }),
    new Krum({ f: 3 }),
    new Krum({ f: 3, m: Infinity, weighting: "samples" }),
    new Bulyan({ f: 5 }),
  ];
  for (const rule of rules) {
    // Execute
    const reference = rule.aggregate(updates);
    for (let seed = 1; seed <= 3; seed++) {
      const again = rule.aggregate(shuffled(updates, seed));
      // Assert
      assert.ok(sameBytes(reference.delta, again.delta), `${rule.name} order ${seed}`);
      assert.deepEqual(again.accepted, reference.accepted);
    }
  }
});

Deno.test("robust rules: a NaN in a late block or a value >= 2^28 rejects that update", () => {
  // Prepare
  const updates = randomUpdates(12, 9_000, 13);
  const nan = { ...updates[2]!, delta: updates[2]!.delta.slice() };
  nan.delta[8_990] = NaN;
  const huge = { ...updates[9]!, delta: updates[9]!.delta.slice() };
  huge.delta[0] = 2 ** 28;
  const offered = [...updates.filter((_, i) => i !== 2 && i !== 9), nan, huge];
  const clean = updates.filter((_, i) => i !== 2 && i !== 9);
  for (
    const rule of [new FedMedian(), new TrimmedMean(), new Krum({ f: 1 }), new Bulyan({ f: 1 })]
  ) {
    // Execute
    const r = rule.aggregate(offered);
    // Assert
    const rejected = r.rejected.filter((x) => x.nodeId === nan.nodeId || x.nodeId === huge.nodeId);
    assert.deepEqual(rejected.map((x) => x.reason).sort(), [
      "non-finite values",
      "|delta| >= 2^28",
    ]);
    assert.ok(sameBytes(r.delta, rule.aggregate(clean).delta), rule.name);
  }
});

Deno.test("Multi-Krum averages the selected updates with the exact FedAvg sum", () => {
  const updates = randomUpdates(10, 2_000, 21);
  const r = new Krum({ f: 2, m: 5, weighting: "samples" }).aggregate(updates);
  const selected = updates.filter((u) => r.accepted.includes(u.nodeId));
  const exact = exactWeightedMean(selected.map((u) => u.delta), selected.map((u) => u.numSamples));
  assert.equal(selected.length, 5);
  assert.ok(sameBytes(r.delta, exact.mean!));
});
