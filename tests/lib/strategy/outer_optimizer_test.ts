import assert from "node:assert/strict";
import { FedAvg } from "../../../lib/strategy/fed_avg.ts";
import { OuterOptimizer } from "../../../lib/strategy/outer_optimizer.ts";
import { randomUpdates, sameBytes, threeUpdates } from "./_updates.ts";

Deno.test("OuterOptimizer: lr 1, momentum 0 is plain FedAvg, bit for bit", () => {
  // Prepare
  const updates = randomUpdates(8, 10_000, 4);
  const w0 = new Float32Array(10_000).map((_, i) => Math.sin(i));
  const outer = new OuterOptimizer(10_000, { lr: 1, momentum: 0 });
  const viaOuter = w0.slice(), plain = w0.slice();
  // Execute: three rounds
  for (let round = 0; round < 3; round++) {
    const delta = new FedAvg().aggregate(updates).delta;
    outer.step(viaOuter, delta);
    for (let i = 0; i < plain.length; i++) plain[i] = plain[i]! + delta[i]!;
  }
  // Assert
  assert.ok(sameBytes(viaOuter, plain));
  assert.equal(outer.steps, 3);
});

Deno.test("OuterOptimizer: Nesterov momentum worked by hand on the three updates", () => {
  // Prepare: FedAvg delta [1.25, 1.5, 0.5]; g = -delta; lr 0.5, momentum 0.9.
  const delta = new FedAvg().aggregate(threeUpdates()).delta;
  const w = new Float32Array([0, 0, 0]);
  const outer = new OuterOptimizer(3, { lr: 0.5, momentum: 0.9 });
  // Execute
  outer.step(w, delta); // v = g; w -= 0.5 * (g + 0.9 g) = 0.95 * delta
  const afterOne = [...w];
  outer.step(w, delta); // v = 1.9 g; w -= 0.5 * (g + 1.71 g) -> +1.355 * delta more
  // Assert
  assert.deepEqual(afterOne, [1.1875, 1.425, 0.475].map(Math.fround));
  const expected = [1.25, 1.5, 0.5].map((d) => 0.95 * d + 1.355 * d);
  w.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-6, `element ${i}`));
  assert.deepEqual([...outer.velocity], [-1.25 * 1.9, -1.5 * 1.9, -0.5 * 1.9].map(Math.fround));
});

Deno.test("OuterOptimizer: warmupSteps scales the first steps by (t + 1) / warmupSteps", () => {
  // FedAvgM (lr 1, no momentum) with a warmup of 4: steps of d/4, d/2, 3d/4, then d.
  const outer = new OuterOptimizer(1, { lr: 1, momentum: 0, warmupSteps: 4 });
  const w = new Float32Array(1);
  const seen: number[] = [];
  for (let t = 0; t < 6; t++) {
    outer.step(w, new Float32Array([2]));
    seen.push(w[0]!);
  }
  assert.deepEqual(seen, [0.5, 1.5, 3, 5, 7, 9]);
  assert.throws(() => new OuterOptimizer(1, { warmupSteps: 0.5 }), /warmupSteps 0.5/);
});

Deno.test("OuterOptimizer: classic momentum, load/resume, bad input", () => {
  const a = new OuterOptimizer(2, { lr: 1, momentum: 0.5, nesterov: false });
  const w = new Float32Array(2);
  a.step(w, new Float32Array([1, 2])); // v = -d; w = d
  a.step(w, new Float32Array([1, 2])); // v = -1.5 d; w = 2.5 d
  assert.deepEqual([...w], [2.5, 5]);
  const b = new OuterOptimizer(2, { lr: 1, momentum: 0.5, nesterov: false });
  b.load(a.velocity, a.steps);
  assert.equal(b.steps, 2);
  assert.throws(() => a.step(new Float32Array(3), new Float32Array(2)), RangeError);
  assert.throws(() => new OuterOptimizer(2, { momentum: 1 }), RangeError);
  assert.throws(() => new OuterOptimizer(2, { lr: 0 }), RangeError);
  assert.throws(() => b.load(new Float32Array(5), 0), RangeError);
});
