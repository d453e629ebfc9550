import assert from "node:assert/strict";
import { FedAvg } from "../../../lib/strategy/fed_avg.ts";
import { MAX_TERM, StreamingFedAvg } from "../../../lib/strategy/streaming_fed_avg.ts";
import { randomUpdates, sameBytes, shuffled, threeUpdates } from "./_updates.ts";

Deno.test("StreamingFedAvg: three updates worked by hand", () => {
  // Prepare
  const acc = new StreamingFedAvg(3);
  // Execute
  for (const u of threeUpdates()) assert.equal(acc.add(u), true);
  // Assert
  assert.equal(acc.count, 3);
  assert.equal(acc.totalSamples, 4);
  const result = acc.finish();
  assert.deepEqual([...result.delta], [1.25, 1.5, 0.5]);
  assert.deepEqual(result.accepted, ["0xa", "0xb", "0xc"]);
});

Deno.test("StreamingFedAvg: a nodeId added twice is ignored, never double counted", () => {
  // Prepare
  const acc = new StreamingFedAvg(3);
  const [a, b, c] = threeUpdates();
  // Execute
  acc.add(a!);
  acc.add(b!);
  const again = acc.add({ ...b!, delta: new Float32Array([100, 100, 100]) });
  acc.add(c!);
  // Assert
  assert.equal(again, false);
  assert.equal(acc.duplicates, 1);
  assert.equal(acc.count, 3);
  assert.equal(acc.totalSamples, 4);
  assert.deepEqual([...acc.finish().delta], [1.25, 1.5, 0.5]);
});

Deno.test("StreamingFedAvg: bad input skipped and counted; a rejected node may retry", () => {
  // Prepare
  const acc = new StreamingFedAvg(3);
  const [a, b, c] = threeUpdates();
  // Execute
  assert.equal(acc.add({ nodeId: "0xa", delta: new Float32Array([1]), numSamples: 1 }), false);
  assert.equal(acc.add({ ...b!, delta: new Float32Array([NaN, 0, 0]) }), false);
  assert.equal(acc.add({ ...c!, numSamples: 0 }), false);
  assert.equal(
    acc.add({ nodeId: "0xz", delta: new Float32Array([1, 2 ** 20, 1]), numSamples: 2 ** 8 }),
    false,
  );
  for (const u of [a!, b!, c!]) assert.equal(acc.add(u), true);
  // Assert
  assert.equal(acc.rejected.length, 4);
  const result = acc.finish();
  assert.deepEqual([...result.delta], [1.25, 1.5, 0.5]);
  assert.deepEqual(result.rejected.map((r) => r.nodeId), ["0xa", "0xb", "0xc", "0xz"]);
  assert.match(result.rejected[3]!.reason, /2\^28/);
  assert.ok(MAX_TERM === 2 ** 28);
});

Deno.test("StreamingFedAvg: finish with nothing counted throws; finish is once", () => {
  const acc = new StreamingFedAvg(2);
  assert.throws(() => acc.finish(), RangeError);
  const ok = new StreamingFedAvg(1);
  ok.add({ nodeId: "0x1", delta: new Float32Array([1]), numSamples: 1 });
  ok.finish();
  assert.throws(() => ok.finish(), Error);
  assert.throws(() => ok.add({ nodeId: "0x2", delta: new Float32Array([1]), numSamples: 1 }));
  assert.throws(() => new StreamingFedAvg(0), RangeError);
});

Deno.test("StreamingFedAvg: permuted arrival orders give identical bytes (100 x 50k)", () => {
  // Prepare
  const updates = randomUpdates(100, 50_000, 5);
  const run = (order: typeof updates) => {
    const acc = new StreamingFedAvg(50_000);
    for (const u of order) acc.add(u);
    return acc.finish().delta;
  };
  // Execute
  const reference = run(updates);
  const reversed = run([...updates].reverse());
  const permuted = [1, 2, 3].map((seed) => run(shuffled(updates, seed)));
  // Assert: and bit-identical to batch FedAvg
  assert.ok(sameBytes(reference, reversed));
  for (const p of permuted) assert.ok(sameBytes(reference, p));
  assert.ok(sameBytes(reference, new FedAvg().aggregate(updates).delta));
});

Deno.test("StreamingFedAvg: cancellation that makes a Float64 running sum order-dependent", () => {
  // Prepare: 1 + 2^-60 - 1 is 0 or 2^-60 in f64 depending on order; the exact sum is 2^-60.
  const tiny = 2 ** -60;
  const updates = [
    { nodeId: "0x1", delta: new Float32Array([1]), numSamples: 1 },
    { nodeId: "0x2", delta: new Float32Array([tiny]), numSamples: 1 },
    { nodeId: "0x3", delta: new Float32Array([-1]), numSamples: 1 },
    { nodeId: "0x4", delta: new Float32Array([0]), numSamples: 1 },
  ];
  const f64 = (order: typeof updates) => order.reduce((s, u) => s + u.numSamples * u.delta[0]!, 0);
  assert.notEqual(f64(updates), f64([updates[0]!, updates[2]!, updates[1]!, updates[3]!]));
  // Execute
  const results = [updates, [...updates].reverse(), shuffled(updates, 4)].map((order) => {
    const acc = new StreamingFedAvg(1);
    for (const u of order) acc.add(u);
    return acc.finish().delta[0];
  });
  // Assert
  assert.deepEqual(results, [tiny / 4, tiny / 4, tiny / 4]);
});

Deno.test("StreamingFedAvg: fractional sample weights stay order-independent", () => {
  const updates = randomUpdates(20, 1_000, 8).map((u, i) => ({ ...u, numSamples: 0.1 + i * 0.37 }));
  const run = (order: typeof updates) => {
    const acc = new StreamingFedAvg(1_000);
    for (const u of order) acc.add(u);
    return { delta: acc.finish().delta, n: acc.totalSamples };
  };
  const a = run(updates), b = run(shuffled(updates, 2));
  assert.ok(sameBytes(a.delta, b.delta));
  assert.equal(a.n, b.n);
});

Deno.test("StreamingFedAvg: merge equals adding directly; a node in both throws", () => {
  // Prepare
  const updates = randomUpdates(10, 2_000, 11);
  const flat = new StreamingFedAvg(2_000);
  for (const u of updates) flat.add(u);
  const left = new StreamingFedAvg(2_000), right = new StreamingFedAvg(2_000);
  updates.forEach((u, i) => (i % 2 ? left : right).add(u));
  // Execute
  left.merge(right);
  // Assert
  assert.equal(left.count, 10);
  assert.ok(sameBytes(left.finish().delta, flat.finish().delta));
  const x = new StreamingFedAvg(2_000), y = new StreamingFedAvg(2_000);
  x.add(updates[0]!);
  y.add(updates[0]!);
  assert.throws(() => x.merge(y), RangeError);
});

Deno.test("StreamingFedAvg.addAll: same bytes, accepted, rejected and duplicates as add", () => {
  // Prepare: repeats (a retry, a conflicting copy), a NaN in a late block, a bad weight
  const updates = randomUpdates(30, 9_000, 6);
  const nan = { ...updates[4]!, nodeId: "0xbad", delta: updates[4]!.delta.slice() };
  nan.delta[8_999] = NaN;
  const batch = [
    ...updates.slice(0, 20),
    nan,
    { ...updates[3]! }, // a retry of a counted node: ignored
    { ...updates[5]!, nodeId: "0xzero", numSamples: 0 },
    { ...nan, delta: updates[4]!.delta.slice() }, // 0xbad retries with a valid update
    ...updates.slice(20),
  ];
  const one = new StreamingFedAvg(9_000);
  for (const u of batch) one.add(u);
  const all = new StreamingFedAvg(9_000);
  // Execute
  const counted = all.addAll(batch);
  // Assert
  assert.equal(counted, 31);
  assert.equal(all.duplicates, one.duplicates);
  assert.equal(all.totalSamples, one.totalSamples);
  const [a, b] = [all.finish(), one.finish()];
  assert.ok(sameBytes(a.delta, b.delta));
  assert.deepEqual(a.accepted, b.accepted);
  assert.deepEqual(a.rejected, b.rejected);
  assert.deepEqual(a.rejected.map((r) => r.nodeId), ["0xbad", "0xzero"]);
});
