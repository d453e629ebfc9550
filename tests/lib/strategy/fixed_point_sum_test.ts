import assert from "node:assert/strict";
import { exactWeightedMean } from "../../../lib/strategy/exact_weighted_mean.ts";
import {
  BLOCK,
  checkWeight,
  ExactWeightSum,
  FixedPointSum,
  MAX_TERM,
} from "../../../lib/strategy/fixed_point_sum.ts";
import { compileAggregate } from "../../../scripts/build_aggregate.ts";
import { referenceMean } from "./_exact_reference.ts";
import { randomUpdates, sameBytes, shuffled, threeUpdates } from "./_updates.ts";

/** Streams `vectors` into a FixedPointSum in the given order and divides by the exact total. */
function streamed(
  vectors: readonly Float32Array[],
  weights: readonly number[],
  order: readonly number[],
  pending?: number,
): Float32Array {
  const sum = new FixedPointSum(vectors[0]!.length, { pending });
  const total = new ExactWeightSum();
  for (const i of order) {
    assert.equal(sum.add(vectors[i]!, weights[i]!), undefined);
    total.add(weights[i]!);
  }
  return sum.divide(total.value);
}

/** Mixed scales (1e-1 .. 1e-8), a length past two blocks and not a multiple of 8. */
function mixed(count: number, length: number, seed: number) {
  const updates = randomUpdates(count, length, seed);
  return { vectors: updates.map((u) => u.delta), weights: updates.map((u) => u.numSamples) };
}

Deno.test("FixedPointSum: three updates worked by hand, batch and streaming", () => {
  // Prepare: sum n·d = [5, 6, 2], N = 4
  const vectors = threeUpdates().map((u) => u.delta);
  const weights = [1, 2, 1];
  // Execute
  const batch = exactWeightedMean(vectors, weights);
  const stream = streamed(vectors, weights, [2, 0, 1]);
  // Assert
  assert.deepEqual([...batch.mean!], [1.25, 1.5, 0.5]);
  assert.equal(batch.total, 4);
  assert.deepEqual([...stream], [1.25, 1.5, 0.5]);
});

Deno.test("FixedPointSum: wasm equals the BigInt reference bit for bit", () => {
  // Prepare
  const { vectors, weights } = mixed(21, 2 * BLOCK + 13, 4);
  // Execute
  const batch = exactWeightedMean(vectors, weights).mean!;
  const stream = streamed(vectors, weights, vectors.map((_, i) => i));
  // Assert
  const reference = referenceMean(vectors, weights);
  assert.ok(sameBytes(batch, reference), "batch");
  assert.ok(sameBytes(stream, reference), "streaming");
});

Deno.test("FixedPointSum: ties, signed zeros, subnormals and terms next to MAX_TERM", () => {
  // Prepare: 3·2^-65 and -3·2^-65 sit halfway between grid points (ties go to even); 2^-149 is
  // below the grid (rounds to 0); 2^28 - 16 is the largest f32 term below MAX_TERM.
  const edge = [3 * 2 ** -65, -3 * 2 ** -65, 2 ** -149, -0, 0, MAX_TERM - 16, -(MAX_TERM - 16)];
  const vectors = [new Float32Array(edge), new Float32Array(edge.map((x) => x / 2))];
  const weights = [1, 1];
  // Execute
  const batch = exactWeightedMean(vectors, weights).mean!;
  // Assert
  assert.ok(sameBytes(batch, referenceMean(vectors, weights)));
  assert.ok(sameBytes(streamed(vectors, weights, [1, 0]), batch));
  assert.equal(batch[2], 0);
  assert.equal(batch[5], Math.fround((MAX_TERM - 16) * 0.75));
});

Deno.test("FixedPointSum: any order, grouping, pending size and merge give the same bytes", () => {
  // Prepare
  const { vectors, weights } = mixed(40, BLOCK + 100, 7);
  const reference = exactWeightedMean(vectors, weights).mean!;
  // Execute + Assert: shuffled batch, streaming with 1..16 pending vectors
  for (let seed = 1; seed <= 4; seed++) {
    const order = shuffled(vectors.map((_, i) => i), seed);
    const batch = exactWeightedMean(order.map((i) => vectors[i]!), order.map((i) => weights[i]!));
    assert.ok(sameBytes(batch.mean!, reference), `batch order ${seed}`);
    const stream = streamed(vectors, weights, order, [1, 3, 4, 16][seed - 1]);
    assert.ok(sameBytes(stream, reference), `streaming order ${seed}`);
  }
  // addAll (block-major through the pending slots), in two calls.
  const all = new FixedPointSum(vectors[0]!.length, { pending: 3 });
  const order = shuffled(vectors.map((_, i) => i), 5);
  const [first, second] = [order.slice(0, 17), order.slice(17)];
  for (const part of [first, second]) {
    assert.equal(all.addAll(part.map((i) => vectors[i]!), part.map((i) => weights[i]!)).size, 0);
  }
  const allTotal = new ExactWeightSum();
  for (const w of weights) allTotal.add(w);
  assert.ok(sameBytes(all.divide(allTotal.value), reference), "addAll");
  // Merge: three partial sums in another order.
  const parts = [0, 1, 2].map(() => new FixedPointSum(vectors[0]!.length, { pending: 5 }));
  shuffled(vectors.map((_, i) => i), 9).forEach((i, k) =>
    parts[k % 3]!.add(vectors[i]!, weights[i]!)
  );
  parts[2]!.merge(parts[0]!);
  parts[2]!.merge(parts[1]!);
  const total = new ExactWeightSum();
  for (const w of weights) total.add(w);
  assert.ok(sameBytes(parts[2]!.divide(total.value), reference), "merged");
});

Deno.test("FixedPointSum: the result is within one f32 ulp of the exact weighted mean", () => {
  // Prepare
  const { vectors, weights } = mixed(30, 3_000, 12);
  // Execute
  const mean = exactWeightedMean(vectors, weights).mean!;
  // Assert against an exact rational mean in BigInt (each f64 product is exact: n < 2^29)
  const scale = 2n ** 200n;
  const total = BigInt(weights.reduce((a, b) => a + b, 0));
  for (let j = 0; j < mean.length; j++) {
    let sum = 0n;
    vectors.forEach((v, i) => (sum += BigInt(weights[i]!) * exactScaled(v[j]!, scale)));
    const exact = Number(sum / total) / 2 ** 200;
    const ulp = Math.max(Math.abs(mean[j]!) * 2 ** -23, 2 ** -149);
    assert.ok(Math.abs(mean[j]! - exact) <= ulp, `coordinate ${j}: ${mean[j]} vs ${exact}`);
  }
});

/** v * scale exactly, for an f32 v and scale 2^200. */
function exactScaled(v: number, scale: bigint): bigint {
  if (v === 0) return 0n;
  const e = Math.floor(Math.log2(Math.abs(v))) - 30;
  return BigInt(Math.round(v / 2 ** e)) *
    (e >= 0 ? scale * 2n ** BigInt(e) : scale / 2n ** BigInt(-e));
}

Deno.test("FixedPointSum: a bad value in a later block is refused and the sum is unchanged", () => {
  // Prepare
  const { vectors, weights } = mixed(6, 3 * BLOCK, 2);
  const nan = vectors[0]!.slice();
  nan[2 * BLOCK + 5] = NaN;
  const huge = vectors[1]!.slice();
  huge[BLOCK + 1] = MAX_TERM; // weight >= 1: out of range
  const sum = new FixedPointSum(3 * BLOCK, { pending: 2 });
  const total = new ExactWeightSum();
  // Execute
  const problems = [sum.add(nan, weights[0]!), sum.add(huge, weights[1]!)];
  for (const [i, v] of vectors.entries()) {
    if (i >= 2) {
      assert.equal(sum.add(v, weights[i]!), undefined);
      total.add(weights[i]!);
    }
  }
  // Assert
  assert.deepEqual(problems, ["non-finite", "out-of-range"]);
  const rest = exactWeightedMean(vectors.slice(2), weights.slice(2)).mean!;
  assert.ok(sameBytes(sum.divide(total.value), rest));
});

Deno.test("FixedPointSum.addAll: unusable vectors found part-way are withdrawn exactly", () => {
  // Prepare: across two shards; problems in the second shard's last block and the first block
  const { vectors, weights } = mixed(12, 2 * BLOCK + 40, 8);
  const bad = vectors.map((v) => v.slice());
  bad[3]![2 * BLOCK + 39] = NaN;
  bad[7]![0] = -MAX_TERM;
  const sum = new FixedPointSum(2 * BLOCK + 40, { pending: 4, shard: BLOCK + 8 });
  // Execute
  const invalid = sum.addAll(bad, weights);
  // Assert
  assert.deepEqual([...invalid.entries()].sort(), [[3, "non-finite"], [7, "out-of-range"]]);
  const keep = vectors.map((_, i) => i).filter((i) => i !== 3 && i !== 7);
  const total = new ExactWeightSum();
  for (const i of keep) total.add(weights[i]!);
  const expected = exactWeightedMean(keep.map((i) => vectors[i]!), keep.map((i) => weights[i]!));
  assert.ok(sameBytes(sum.divide(total.value), expected.mean!));
});

Deno.test("exactWeightedMean: unusable vectors found part-way are left out and reported", () => {
  // Prepare: an Infinity in the last block, a NaN in the first, a term of exactly MAX_TERM
  const { vectors, weights } = mixed(20, 2 * BLOCK + 3, 5);
  const bad = vectors.map((v) => v.slice());
  bad[4]![2 * BLOCK + 2] = Infinity;
  bad[17]![0] = NaN;
  bad[9]![BLOCK + 7] = MAX_TERM / 2 ** Math.floor(Math.log2(weights[9]!)); // * weight >= MAX_TERM
  // Execute
  const { mean, invalid, total } = exactWeightedMean(bad, weights);
  // Assert
  assert.deepEqual(
    [...invalid.entries()].sort(),
    [
      [17, "non-finite"],
      [4, "non-finite"],
      [9, "out-of-range"],
    ].sort(),
  );
  const keep = vectors.map((_, i) => i).filter((i) => ![4, 9, 17].includes(i));
  const expected = exactWeightedMean(keep.map((i) => vectors[i]!), keep.map((i) => weights[i]!));
  assert.ok(sameBytes(mean!, expected.mean!));
  assert.equal(total, expected.total);
  const none = exactWeightedMean([new Float32Array([NaN])], [1]);
  assert.equal(none.mean, undefined);
});

Deno.test("exactWeightedMean: a loose bound with no bad value costs a scan, not the result", () => {
  // Prepare: 1.5e6 (f32 exponent 0x93) and 1e-30 (0x1b) OR to an exponent of 2^28, but every
  // term, 100 * 1.5e6, is below MAX_TERM
  const vectors = [new Float32Array(16).fill(1.5e6), new Float32Array(16).fill(1e-30)];
  const weights = [100, 100];
  // Execute
  const { mean, invalid } = exactWeightedMean(vectors, weights);
  // Assert
  assert.equal(invalid.size, 0);
  assert.ok(sameBytes(mean!, streamed(vectors, weights, [1, 0])));
  assert.ok(sameBytes(mean!, referenceMean(vectors, weights)));
});

Deno.test("FixedPointSum: 20,000 worst-case low limbs carry without overflow", () => {
  // Prepare: 2^-15 rounds to 0 on the 2^-14 grid (a tie, to even), so every term puts 2^49
  // units in the low limb: 20,000 of them overflow an i64 unless carried.
  const count = 20_000;
  const v = new Float32Array(8).fill(2 ** -15);
  v[3] = -(2 ** -15);
  const vectors = Array.from({ length: count }, () => v);
  const weights = vectors.map(() => 1);
  // Execute
  const batch = exactWeightedMean(vectors, weights).mean!;
  const stream = streamed(vectors, weights, vectors.map((_, i) => i));
  const all = new FixedPointSum(8);
  all.addAll(vectors, weights);
  // Assert
  assert.ok(sameBytes(batch, v));
  assert.ok(sameBytes(stream, v));
  assert.ok(sameBytes(all.divide(count), v));
});

Deno.test("FixedPointSum: shards (one wasm instance per slice) give the same bytes", () => {
  const { vectors, weights } = mixed(9, 5_000, 3);
  const sharded = new FixedPointSum(5_000, { shard: 1_024 });
  const total = new ExactWeightSum();
  vectors.forEach((v, i) => {
    sharded.add(v, weights[i]!);
    total.add(weights[i]!);
  });
  assert.ok(sameBytes(sharded.divide(total.value), exactWeightedMean(vectors, weights).mean!));
});

Deno.test("FixedPointSum: bad arguments throw RangeError", () => {
  assert.throws(() => new FixedPointSum(0), RangeError);
  assert.throws(() => new FixedPointSum(4, { pending: 0 }), RangeError);
  assert.throws(() => new FixedPointSum(2).add(new Float32Array(3), 1), RangeError);
  assert.throws(() => exactWeightedMean([], []), RangeError);
  assert.throws(() => exactWeightedMean([new Float32Array(2), new Float32Array(3)], [1, 1]));
});

Deno.test("checkWeight: positive, finite, in [2^-24, 2^32)", () => {
  assert.equal(checkWeight(1), undefined);
  assert.equal(checkWeight(0.37), undefined);
  assert.equal(checkWeight(2 ** 32 - 1), undefined);
  assert.match(checkWeight(0)!, /not positive/);
  assert.match(checkWeight(NaN)!, /not positive/);
  assert.match(checkWeight(2 ** 32)!, /outside \[2\^-24, 2\^32\)/);
  assert.match(checkWeight(2 ** -25)!, /outside/);
});

Deno.test("ExactWeightSum: fractional weights sum to the same number in any order", () => {
  const weights = Array.from({ length: 50 }, (_, i) => 0.1 + i * 0.37);
  const sums = [weights, [...weights].reverse(), shuffled(weights, 3)].map((ws) => {
    const s = new ExactWeightSum();
    for (const w of ws) s.add(w);
    return s.value;
  });
  assert.equal(sums[0], sums[1]);
  assert.equal(sums[0], sums[2]);
});

Deno.test("committed aggregate.wasm is byte-identical to a rebuild; no fused or relaxed ops", async () => {
  const { wasm, text } = await compileAggregate({ text: true });
  const committed = await Deno.readFile(
    new URL("../../../lib/strategy/wasm/aggregate.wasm", import.meta.url),
  );
  assert.deepEqual(wasm, committed, "run deno run -A scripts/build_aggregate.ts");
  assert.ok(text && text.includes("i64x2.add") && text.includes("f64x2.promote_low_f32x4"));
  assert.doesNotMatch(text, /relaxed|madd|fma/i);
});
