import assert from "node:assert/strict";
import { FedAvg } from "../../../lib/strategy/fed_avg.ts";
import { randomUpdates, sameBytes, shuffled, threeUpdates } from "./_updates.ts";

Deno.test("FedAvg: three updates worked by hand", () => {
  // Prepare
  const updates = threeUpdates();
  // Execute
  const result = new FedAvg().aggregate(updates);
  // Assert
  assert.deepEqual([...result.delta], [1.25, 1.5, 0.5]);
  assert.deepEqual(result.accepted, ["0xa", "0xb", "0xc"]);
  assert.deepEqual(result.rejected, []);
});

Deno.test("FedAvg: sorted-f64 accumulation gives the same hand-worked result", () => {
  const result = new FedAvg({ accumulation: "sorted-f64" }).aggregate(threeUpdates());
  assert.deepEqual([...result.delta], [1.25, 1.5, 0.5]);
});

Deno.test("FedAvg: wrong length, NaN, Infinity, zero samples are skipped and counted", () => {
  // Prepare
  const updates = [
    ...threeUpdates(),
    { nodeId: "0xd", delta: new Float32Array([1, 2]), numSamples: 1 },
    { nodeId: "0xe", delta: new Float32Array([1, NaN, 0]), numSamples: 1 },
    { nodeId: "0xf", delta: new Float32Array([Infinity, 0, 0]), numSamples: 1 },
    { nodeId: "0xg", delta: new Float32Array([9, 9, 9]), numSamples: 0 },
    { nodeId: "0xh", delta: new Float32Array([9, 9, 9]), numSamples: -3 },
  ];
  // Execute
  const result = new FedAvg().aggregate(updates);
  // Assert
  assert.deepEqual([...result.delta], [1.25, 1.5, 0.5]);
  assert.equal(result.rejected.length, 5);
  assert.deepEqual(result.rejected.map((r) => r.nodeId), ["0xd", "0xe", "0xf", "0xg", "0xh"]);
  assert.match(result.rejected[0]!.reason, /length 2 != 3/);
  assert.match(result.rejected[1]!.reason, /non-finite/);
});

Deno.test("FedAvg: an identical retry counts once, conflicting copies are all rejected", () => {
  // Prepare
  const [a, b, c] = threeUpdates();
  const retry = { ...a!, delta: a!.delta.slice() };
  const forged = { ...b!, delta: new Float32Array([100, 100, 100]) };
  // Execute
  const result = new FedAvg().aggregate([a!, b!, c!, retry, forged]);
  // Assert: b dropped entirely -> (a + c) / 2
  assert.deepEqual([...result.delta], [0.5, 3, 2]);
  assert.deepEqual(result.accepted, ["0xa", "0xc"]);
  assert.deepEqual(result.rejected, [{ nodeId: "0xb", reason: "2 conflicting updates" }]);
});

Deno.test("FedAvg: no usable update throws RangeError", () => {
  assert.throws(() => new FedAvg().aggregate([]), RangeError);
  const bad = [{ nodeId: "0x1", delta: new Float32Array([NaN]), numSamples: 1 }];
  assert.throws(() => new FedAvg().aggregate(bad), RangeError);
});

Deno.test("FedAvg: bytes identical for any arrival order (both accumulations)", () => {
  // Prepare
  const updates = randomUpdates(40, 20_000, 3);
  for (const accumulation of ["exact", "sorted-f64"] as const) {
    const strategy = new FedAvg({ accumulation });
    const reference = strategy.aggregate(updates).delta;
    for (let seed = 1; seed <= 5; seed++) {
      // Execute
      const again = strategy.aggregate(shuffled(updates, seed)).delta;
      // Assert
      assert.ok(sameBytes(reference, again), `${accumulation} order ${seed}`);
    }
  }
});

Deno.test("FedAvg: exact and sorted-f64 agree within one f32 ulp", () => {
  const updates = randomUpdates(30, 20_000, 9);
  const exact = new FedAvg().aggregate(updates).delta;
  const f64 = new FedAvg({ accumulation: "sorted-f64" }).aggregate(updates).delta;
  for (let j = 0; j < exact.length; j++) {
    const ulp = Math.max(Math.abs(exact[j]!) * 2 ** -23, 2 ** -149);
    assert.ok(Math.abs(exact[j]! - f64[j]!) <= ulp, `element ${j}`);
  }
});
