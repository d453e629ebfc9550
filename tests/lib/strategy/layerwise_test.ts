import assert from "node:assert/strict";
import { applyLayerRules } from "../../../lib/strategy/layerwise.ts";
import { combinePlanOf, combineRound } from "../../../lib/strategy/combine_round.ts";
import { threeUpdates } from "./_updates.ts";

Deno.test("applyLayerRules: freeze, weight and a prefix rule, worked by hand", () => {
  // Prepare: views wte=[0,1], h0.w=[1,2], h1.w=[3,1]; index 4 lies outside every view.
  const delta = new Float32Array([1, 2, 4, 8, 16]);
  const views = { wte: [0, 1], "h0.w": [1, 2], "h1.w": [3, 1] } as const;
  const rules = { wte: { freeze: true }, "h0.*": { weight: 0.5 } };
  // Execute
  const out = applyLayerRules(delta, views, rules);
  // Assert: wte 0; h0.w halved; h1.w (no rule) and the uncovered index unchanged; in place
  assert.deepEqual([...out], [0, 1, 2, 8, 16]);
  assert.equal(out, delta);
});

Deno.test("applyLayerRules: an exact name wins over a prefix", () => {
  const delta = new Float32Array([2, 2]);
  const rules = { "h0.*": { freeze: true }, "h0.b": { weight: 0.25 } };
  applyLayerRules(delta, { "h0.w": [0, 1], "h0.b": [1, 1] }, rules);
  assert.deepEqual([...delta], [0, 0.5]);
});

Deno.test("a job's layer rules act on the round's FedAvg mean in combineRound", () => {
  // Prepare: FedAvg of the three updates is [1.25, 1.5, 0.5]; the tiny GPT's first tensor is wte.
  const model = { kind: "gpt" as const, maxT: 1, layers: 1, heads: 1, width: 4 };
  const spec = {
    seed: 1,
    model,
    aggregation: {
      strategy: "fedavg" as const,
      quorum: 1,
      deadlineMs: 1,
      clusterSize: 1,
      layers: { "wte": { weight: 0.5 } },
    },
  };
  const plan = combinePlanOf(spec, 0);
  const [offset, length] = plan.layers!.views["wte"]!;
  const size = offset + length + 3;
  const updates = threeUpdates().map((u, slot) => {
    const delta = new Float32Array(size);
    delta.set(u.delta, size - 3); // the hand-worked values after wte
    delta.fill(4 * (slot + 1), offset, offset + length);
    return { ...u, delta, slot };
  });
  // Execute
  const r = combineRound(plan, updates);
  // Assert: wte's mean (4·1 + 8·2 + 12·1) / 4 = 8 is halved; the tail is the plain mean.
  assert.deepEqual([...r.delta.subarray(offset, offset + length)], Array(length).fill(4));
  assert.deepEqual([...r.delta.subarray(size - 3)], [1.25, 1.5, 0.5]);
});
