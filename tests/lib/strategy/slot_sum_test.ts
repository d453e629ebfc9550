import assert from "node:assert/strict";
import {
  BLOCK,
  ExactWeightSum,
  FixedPointSum,
  MAX_TERM,
} from "../../../lib/strategy/fixed_point_sum.ts";
import { SlotSum } from "../../../lib/strategy/slot_sum.ts";
import { referenceMean } from "./_exact_reference.ts";
import { randomUpdates, sameBytes, shuffled } from "./_updates.ts";

/** The FixedPointSum mean of `vectors` (the arithmetic SlotSum must reproduce bit for bit). */
function fixedPointMean(vectors: readonly Float32Array[], weights: readonly number[]) {
  const sum = new FixedPointSum(vectors[0]!.length);
  const total = new ExactWeightSum();
  vectors.forEach((v, i) => {
    assert.equal(sum.add(v, weights[i]!), undefined);
    total.add(weights[i]!);
  });
  const mean = sum.divide(total.value);
  sum.release();
  return mean;
}

/** Decodes (copies) each vector into a slot of `sum` in `order`; returns the commit indices. */
function commitAll(
  sum: SlotSum,
  vectors: readonly Float32Array[],
  weights: readonly number[],
  order: readonly number[],
): number[] {
  return order.map((i) => {
    sum.slot().set(vectors[i]!);
    return sum.commit(weights[i]!);
  });
}

Deno.test("SlotSum: bit-identical to FixedPointSum for any thread count, slot count and order", async () => {
  // Prepare: mixed scales, a length past two blocks and not a multiple of 8
  const updates = randomUpdates(21, 2 * BLOCK + 1_003, 7);
  const vectors = updates.map((u) => u.delta);
  const weights = updates.map((u) => u.numSamples);
  const expected = fixedPointMean(vectors, weights);
  assert.ok(sameBytes(expected, referenceMean(vectors, weights)));
  for (const threads of [1, 2, 3]) {
    for (const slots of [1, 4, 16]) {
      // Execute
      const sum = await SlotSum.open(vectors[0]!.length, { threads, slots });
      try {
        commitAll(sum, vectors, weights, shuffled(vectors.map((_, i) => i), threads * slots));
        const { mean, invalid, total } = sum.mean();
        // Assert
        assert.equal(invalid.size, 0);
        assert.equal(total, weights.reduce((a, b) => a + b, 0));
        assert.ok(sameBytes(mean!, expected), `threads ${threads}, slots ${slots}`);
      } finally {
        sum.close();
      }
    }
  }
});

Deno.test("SlotSum: an update with a bad value anywhere is left out exactly and named", async () => {
  // Prepare: the good ones, and three bad ones whose problem lies in a late block only
  const length = 3 * BLOCK + 5;
  const updates = randomUpdates(9, length, 3);
  const good = updates.map((u) => u.delta);
  const weights = updates.map((u) => u.numSamples);
  const nan = good[0]!.slice();
  nan[2 * BLOCK + 3] = NaN;
  const inf = good[1]!.slice();
  inf[length - 1] = -Infinity;
  const huge = good[2]!.slice();
  huge[BLOCK + 9] = MAX_TERM; // times a weight >= 1: out of range
  const both = good[3]!.slice();
  both[10] = 2 * MAX_TERM;
  both[3 * BLOCK] = NaN;
  const vectors = [...good.slice(0, 5), nan, inf, huge, both, ...good.slice(5)];
  const w = [...weights.slice(0, 5), 7, 8, 9, 10, ...weights.slice(5)];
  const expected = fixedPointMean(good, weights);
  for (const threads of [1, 2]) {
    const sum = await SlotSum.open(length, { threads, slots: 4 });
    try {
      // Execute
      const indices = commitAll(sum, vectors, w, vectors.map((_, i) => i));
      const { mean, invalid, total } = sum.mean();
      // Assert
      assert.deepEqual(
        [...invalid].sort((a, b) => a[0] - b[0]),
        [
          [indices[5]!, "non-finite"],
          [indices[6]!, "non-finite"],
          [indices[7]!, "out-of-range"],
          [indices[8]!, "non-finite"],
        ],
      );
      assert.equal(total, weights.reduce((a, b) => a + b, 0));
      assert.ok(sameBytes(mean!, expected), `threads ${threads}`);
    } finally {
      sum.close();
    }
  }
});

Deno.test("SlotSum: thousands of commits carry the limbs as FixedPointSum does", async () => {
  // Prepare: past CARRY_EVERY (4,096) deposits, terms up to 2^24.6 with bits down to 2^-30
  const length = 16;
  const vectors = Array.from(
    { length: 5_000 },
    (_, i) =>
      Float32Array.from(
        { length },
        (_, j) => ((i * 31 + j * 17) % 61 - 30) * 2 ** 12 * (j % 2 ? 1 : -1) + 2 ** -30 * j,
      ),
  );
  const weights = vectors.map((_, i) => 1 + (i % 200));
  const sum = await SlotSum.open(length, { threads: 2, slots: 16 });
  try {
    // Execute
    commitAll(sum, vectors, weights, vectors.map((_, i) => i));
    const { mean, invalid } = sum.mean();
    // Assert
    assert.equal(invalid.size, 0);
    assert.ok(sameBytes(mean!, fixedPointMean(vectors, weights)));
  } finally {
    sum.close();
  }
});

Deno.test("SlotSum: bad arguments throw clearly and change nothing", async () => {
  // Prepare
  const sum = await SlotSum.open(4, { threads: 1, slots: 2 });
  sum.slot().set([1, 2, 3, 4]);
  // Execute, Assert
  assert.throws(() => sum.commit(0), /Cannot commit: numSamples 0 not positive/);
  assert.throws(() => sum.commit(2 ** 32), /outside \[2\^-24, 2\^32\)/);
  sum.commit(2);
  assert.deepEqual(sum.mean().mean, new Float32Array([1, 2, 3, 4]));
  sum.close();
  assert.throws(() => sum.slot(), /the sum was closed/);
  await assert.rejects(SlotSum.open(0), /length 0 is not a positive integer/);
  await assert.rejects(SlotSum.open(8, { slots: 257 }), /slots 257 is not in \[1, 256\]/);
  await assert.rejects(SlotSum.open(8, { threads: 0 }), /0 is not in \[1, 64\]/);
  await assert.rejects(SlotSum.open(2 ** 28, { slots: 16 }), /exceed the 4 GiB/);
});

Deno.test("SlotSum: nothing accepted gives no mean", async () => {
  // Prepare
  using sum = await SlotSum.open(3, { threads: 2 });
  sum.slot().set([NaN, 0, 0]);
  sum.commit(1);
  // Execute
  const { mean, invalid, total } = sum.mean();
  // Assert
  assert.equal(mean, undefined);
  assert.equal(total, 0);
  assert.deepEqual([...invalid], [[0, "non-finite"]]);
});

Deno.test("SlotSum: reused after reset, a bad update in the last pass is withdrawn and the mean redone", async () => {
  // Prepare: a first round to dirty the limbs, then a round whose last pass holds a NaN
  const length = 2 * BLOCK + 17;
  const updates = randomUpdates(6, length, 9);
  const vectors = updates.map((u) => u.delta);
  const weights = updates.map((u) => u.numSamples);
  const bad = vectors[0]!.slice();
  bad[BLOCK + 1] = NaN;
  for (const threads of [1, 2]) {
    using sum = await SlotSum.open(length, { threads, slots: 4 });
    commitAll(sum, vectors, weights, [0, 1, 2, 3, 4]);
    sum.mean();
    sum.reset();
    // Execute: five good ones (a full pass, then one pending) and the bad one, last
    const indices = commitAll(sum, [...vectors, bad], [...weights, 5], [1, 2, 3, 4, 5, 6]);
    const { mean, invalid } = sum.mean();
    // Assert
    assert.deepEqual([...invalid], [[indices[5]!, "non-finite"]]);
    assert.ok(sameBytes(mean!, fixedPointMean(vectors.slice(1), weights.slice(1))), `${threads}`);
  }
});
