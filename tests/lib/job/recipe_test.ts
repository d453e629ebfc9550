import assert from "node:assert/strict";
import { prepareJob } from "../../../lib/job/job_owner.ts";
import { encodeJobSpec, parseJobSpec, roundHyper } from "../../../lib/job/job_spec.ts";
import { SYNCHRONOUS_SERVER_LR, synchronousRecipe } from "../../../lib/job/recipe.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";
import { Store } from "../../../lib/store/store.ts";
import { serverOptimizerFor } from "../../../lib/strategy/server_optimizer.ts";

Deno.test("synchronousRecipe: a valid spec of one SGD step a round and a bias-corrected Adam", async () => {
  const text = new TextEncoder().encode("the synchronous recipe. ".repeat(100));
  const { spec } = await prepareJob(new Store(new MemoryBlockstore()), {
    model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
    shards: [{ name: "a", train: text, val: text }],
    rounds: 40,
    B: 1,
    T: 16,
    ...synchronousRecipe(40),
  });
  assert.deepEqual(parseJobSpec(encodeJobSpec(spec)), spec);
  assert.equal(spec.localSteps, 1);
  // lr 1, no decay, no schedule: the node's update is its clipped gradient, every round.
  assert.deepEqual(
    [spec.optimizer.kind, spec.optimizer.lr, spec.optimizer.weightDecay, spec.optimizer.minLrRatio],
    ["sgd", 1, 0, 1],
  );
  assert.equal(roundHyper(spec, 39).schedule.lr, 1);
  // The server lr warms up over 5% of the rounds: 2 of 40.
  assert.equal(spec.aggregation.outerWarmupRounds, 2);
  const server = serverOptimizerFor(spec.aggregation, 2)!;
  // Bias-corrected Adam's first step is lr in the gradient's direction (Reddi's is ~0.45 lr),
  // here half of it, the first of two warmup rounds; the second is a full-sized one.
  const w = new Float32Array(2);
  server.step(w, new Float32Array([0.5, -2]));
  const lr = SYNCHRONOUS_SERVER_LR;
  assert.ok(Math.abs(w[0]! - lr / 2) < 1e-8 && w[1]! < -0.99 * lr / 2 && w[1]! > -lr / 2, `${w}`);
  const before = w[0]!;
  server.step(w, new Float32Array([0.5, -2]));
  assert.ok(Math.abs(w[0]! - before - lr) < 1e-8, `${w}`);
  assert.equal(synchronousRecipe(40, 1e-3).outer.outerLr, 1e-3);
  assert.equal(synchronousRecipe(1).outer.outerWarmupRounds, 1);
  assert.equal(synchronousRecipe(1200).outer.outerWarmupRounds, 60);
  for (const bad of [0, 2.5, NaN]) {
    assert.throws(() => synchronousRecipe(bad), /rounds .* not >= 1/);
  }
  assert.equal(synchronousRecipe(1200, 3e-3, 0.1).outer.outerWarmupRounds, 120);
  assert.equal(synchronousRecipe(1200, 3e-3, 0).outer.outerWarmupRounds, 0);
  for (const bad of [-0.1, 1.5, NaN]) {
    assert.throws(() => synchronousRecipe(100, 3e-3, bad), /warmupShare .* not in \[0, 1\]/);
  }
});
