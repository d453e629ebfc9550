import assert from "node:assert/strict";
import { Layerwise } from "../../../lib/strategy/layerwise.ts";
import type { AggregateResult, ClientUpdate, Strategy } from "../../../lib/strategy/strategy.ts";
import { threeUpdates } from "./_updates.ts";

/** A toy per-layer strategy: element-wise max, rejecting node 0xb. */
class MaxNotB implements Strategy {
  readonly name = "max-not-b";
  aggregate(updates: readonly ClientUpdate[]): AggregateResult {
    const kept = updates.filter((u) => u.nodeId !== "0xb");
    const delta = new Float32Array(updates[0]!.delta.length).fill(-Infinity);
    for (const u of kept) u.delta.forEach((v, i) => (delta[i] = Math.max(delta[i]!, v)));
    return {
      delta,
      accepted: kept.map((u) => u.nodeId),
      rejected: [{ nodeId: "0xb", reason: "not b" }],
    };
  }
}

Deno.test("Layerwise: freeze, weight and per-layer strategy, worked by hand", () => {
  // Prepare: FedAvg of the three updates is [1.25, 1.5, 0.5]; views wte=[0,1], h0=[1,1], head=[2,1]
  const views = { wte: [0, 1], h0: [1, 1], head: [2, 1] } as const;
  const merge = new Layerwise(views, {
    rules: { wte: { freeze: true }, h0: { weight: 0.5 }, head: { strategy: new MaxNotB() } },
  });
  // Execute
  const result = merge.aggregate(threeUpdates());
  // Assert: wte 0; h0 1.5 * 0.5; head max(3, 1) over a and c
  assert.deepEqual([...result.delta], [0, 0.75, 3]);
  assert.deepEqual(result.accepted, ["0xa", "0xb", "0xc"]);
  assert.deepEqual(result.rejected, [{ nodeId: "0xb", reason: "layer head: not b" }]);
});

Deno.test("Layerwise: parameters outside views and unruled views use the default", () => {
  const merge = new Layerwise({ wte: [0, 1] }, { rules: { wte: { freeze: true } } });
  const result = merge.aggregate(threeUpdates());
  assert.deepEqual([...result.delta], [0, 1.5, 0.5]);
});

Deno.test("Layerwise: bad updates skipped and counted; bad views refused", () => {
  // Prepare
  const updates = [
    ...threeUpdates(),
    { nodeId: "0xd", delta: new Float32Array([1]), numSamples: 1 },
    { nodeId: "0xe", delta: new Float32Array([NaN, 1, 1]), numSamples: 1 },
    { nodeId: "0xf", delta: new Float32Array([1, 1, 1]), numSamples: 0 },
  ];
  // Execute
  const result = new Layerwise({ a: [0, 3] }).aggregate(updates);
  // Assert
  assert.deepEqual([...result.delta], [1.25, 1.5, 0.5]);
  assert.equal(result.rejected.length, 3);
  assert.throws(() => new Layerwise({ a: [0, 2], b: [1, 2] }), RangeError);
  assert.throws(() => new Layerwise({ a: [0, 2] }, { rules: { b: { freeze: true } } }), RangeError);
  assert.throws(() => new Layerwise({ a: [2, 5] }).aggregate(threeUpdates()), RangeError);
});
