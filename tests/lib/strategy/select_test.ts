import assert from "node:assert/strict";
import { codecFor, robustStrategyFor } from "../../../lib/strategy/select.ts";
import { partitionSeed, readPartitionHeader } from "../../../lib/compress/partition.ts";
import { readHeader } from "../../../lib/compress/codec.ts";
import { decodePayload } from "../../../lib/compress/payload.ts";
import { CODECS, ROBUST } from "../../../lib/job/job_spec.ts";
import { Krum } from "../../../lib/strategy/krum.ts";
import { Bulyan } from "../../../lib/strategy/bulyan.ts";
import { TrimmedMean } from "../../../lib/strategy/trimmed_mean.ts";
import { FedMedian } from "../../../lib/strategy/fed_median.ts";

const TASK = { jobSeed: 1337, round: 2, slot: 3 };

function sineDelta(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => 1e-3 * Math.sin(i * 0.37));
}

Deno.test("codecFor: each codec name gives a codec of that name", () => {
  const delta = sineDelta(1_000);
  for (const codec of CODECS) {
    const c = codecFor({ codec }, TASK);
    assert.equal(c.name, codec);
    // The codec works: its payload decodes to a delta of the same length.
    const { bytes } = c.encode(delta);
    assert.equal(readHeader(bytes).length, delta.length);
    assert.equal(decodePayload(bytes, delta.length).length, delta.length);
  }
  // Codecs other than partition need no task.
  for (const codec of CODECS.filter((c) => c !== "partition")) {
    assert.equal(codecFor({ codec }).name, codec);
  }
});

Deno.test("codecFor: fp32 is lossless and top-k keeps the asked fraction", () => {
  const delta = sineDelta(1_000);
  const fp32 = codecFor({ codec: "fp32" });
  assert.deepEqual(decodePayload(fp32.encode(delta).bytes, delta.length), delta);
  for (const codec of ["topk", "topk-int8"] as const) {
    for (const fraction of [0.01, 0.1]) {
      const c = codecFor({ codec, fraction });
      const decoded = decodePayload(c.encode(delta).bytes, delta.length);
      const nonzero = decoded.filter((x) => x !== 0).length;
      assert.ok(nonzero <= Math.ceil(fraction * delta.length), `${codec} ${fraction}: ${nonzero}`);
      assert.ok(nonzero > 0, `${codec} ${fraction}`);
    }
    // The default fraction is 1%.
    const d = decodePayload(codecFor({ codec }).encode(delta).bytes, delta.length);
    assert.ok(d.filter((x) => x !== 0).length <= 10, codec);
  }
});

Deno.test("codecFor: the partition codec without a task is refused", () => {
  assert.throws(
    () => codecFor({ codec: "partition" }),
    (e: unknown) => e instanceof TypeError && /round and slot/.test(e.message),
  );
  assert.throws(() => codecFor({ codec: "partition", parts: 4 }), TypeError);
});

Deno.test("codecFor: the partition payload carries the task's slot, parts and round seed", () => {
  const delta = sineDelta(2_000);
  const bytes = codecFor({ codec: "partition", parts: 4 }, TASK).encode(delta).bytes;
  const h = readPartitionHeader(bytes);
  assert.equal(h.slot, 3);
  assert.equal(h.parts, 4);
  assert.equal(h.seed, partitionSeed(1337, 2));
  // About a quarter of the coordinates are sent.
  assert.ok(Math.abs(h.count - delta.length / 4) < 100, `${h.count}`);
  // parts defaults to 8.
  const dflt = readPartitionHeader(codecFor({ codec: "partition" }, TASK).encode(delta).bytes);
  assert.equal(dflt.parts, 8);
  assert.equal(dflt.slot, 3);
});

Deno.test("codecFor: partition seeds change with the round and the job seed", () => {
  const delta = sineDelta(500);
  const seedOf = (task: typeof TASK) =>
    readPartitionHeader(codecFor({ codec: "partition", parts: 4 }, task).encode(delta).bytes).seed;
  const r2 = seedOf(TASK);
  const r3 = seedOf({ ...TASK, round: 3 });
  assert.notEqual(r2, r3);
  assert.equal(r3, partitionSeed(1337, 3));
  assert.notEqual(seedOf({ ...TASK, jobSeed: 1338 }), r2);
  // Nodes of one round share the seed whatever their slot.
  assert.equal(seedOf({ ...TASK, slot: 0 }), r2);
});

Deno.test("robustStrategyFor: each strategy name gives a strategy of that name", () => {
  const n = 15;
  for (const strategy of ROBUST) {
    assert.equal(robustStrategyFor({ strategy }, n).name, strategy);
  }
  assert.ok(robustStrategyFor({ strategy: "median" }, n) instanceof FedMedian);
  assert.ok(robustStrategyFor({ strategy: "krum" }, n) instanceof Krum);
  assert.ok(robustStrategyFor({ strategy: "multi-krum" }, n) instanceof Krum);
  assert.ok(robustStrategyFor({ strategy: "bulyan" }, n) instanceof Bulyan);
});

Deno.test("robustStrategyFor: f defaults to 20% of n and is capped by each strategy's bound", () => {
  const n = 15;
  // Default f = floor(0.2 * 15) = 3, within Krum's (15 - 3) / 2 = 6 and Bulyan's (15 - 3) / 4 = 3.
  const krum = robustStrategyFor({ strategy: "krum" }, n) as Krum;
  assert.equal(krum.f, 3);
  assert.equal(krum.m, 1);
  const multi = robustStrategyFor({ strategy: "multi-krum" }, n) as Krum;
  assert.equal(multi.f, 3);
  assert.equal(multi.m, n - 3);
  assert.equal((robustStrategyFor({ strategy: "bulyan" }, n) as Bulyan).f, 3);
  // An explicit f is used when within bounds...
  assert.equal((robustStrategyFor({ strategy: "krum", f: 5 }, n) as Krum).f, 5);
  assert.equal((robustStrategyFor({ strategy: "bulyan", f: 2 }, n) as Bulyan).f, 2);
  // ...and capped at n >= 2f + 3 (Krum) or n >= 4f + 3 (Bulyan) otherwise.
  assert.equal((robustStrategyFor({ strategy: "krum", f: 10 }, n) as Krum).f, 6);
  const cappedMulti = robustStrategyFor({ strategy: "multi-krum", f: 10 }, n) as Krum;
  assert.equal(cappedMulti.f, 6);
  assert.equal(cappedMulti.m, n - 6);
  assert.equal((robustStrategyFor({ strategy: "bulyan", f: 10 }, n) as Bulyan).f, 3);
  // Too few updates for any tolerance: f is 0, never negative.
  assert.equal((robustStrategyFor({ strategy: "krum" }, 3) as Krum).f, 0);
  assert.equal((robustStrategyFor({ strategy: "bulyan", f: 1 }, 4) as Bulyan).f, 0);
  // Fewer than the 3 a selecting rule needs at f = 0: the median, which combines 1 or 2.
  for (const strategy of ["krum", "multi-krum", "bulyan"] as const) {
    for (const n of [1, 2]) assert.equal(robustStrategyFor({ strategy }, n).name, "median");
  }
});

Deno.test("robustStrategyFor: trimmed mean takes beta from the spec, 0.2 by default", () => {
  const dflt = robustStrategyFor({ strategy: "trimmed-mean" }, 15) as TrimmedMean;
  assert.ok(dflt instanceof TrimmedMean);
  assert.equal(dflt.beta, 0.2);
  assert.equal(
    (robustStrategyFor({ strategy: "trimmed-mean", beta: 0.3 }, 15) as TrimmedMean).beta,
    0.3,
  );
});

Deno.test("attacker: one Byzantine update among 3 or 4 does not move a default robust rule", () => {
  // Found in the secure aggregation audit: at 3 or 4 updates the default f and beta were 0, and
  // trimmed mean, multi-Krum and Bulyan averaged every update: one update of 1e8 among four moved
  // the result to 2.5e7.
  for (const n of [3, 4]) {
    const updates = Array.from({ length: n }, (_, i) => ({
      nodeId: `0x${i.toString(16).padStart(4, "0")}`,
      delta: new Float32Array([i === n - 1 ? 1e8 : 0.01 * (i + 1)]),
      numSamples: 1,
    }));
    for (const strategy of ROBUST) {
      const result = robustStrategyFor({ strategy }, n).aggregate(updates).delta[0]!;
      assert.ok(Math.abs(result) <= 0.05, `${strategy} of ${n}: ${result}`);
    }
  }
});
