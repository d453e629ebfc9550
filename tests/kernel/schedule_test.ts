import assert from "node:assert/strict";
import { checkWarmup, cosPi, learningRate, warmedLr } from "../../kernel/schedule.ts";

Deno.test("cosPi agrees with Math.cos to f64 precision on [0, 1]", () => {
  for (let i = 0; i <= 1000; i++) {
    const x = i / 1000;
    assert.ok(Math.abs(cosPi(x) - Math.cos(Math.PI * x)) < 1e-14, `x=${x}`);
  }
});

Deno.test("warmup is linear, then cosine decays to the floor", () => {
  const cfg = { lr: 1e-3, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 };
  assert.equal(learningRate(0, cfg), 1e-4);
  assert.ok(Math.abs(learningRate(9, cfg) - 1e-3) < 1e-18);
  assert.equal(learningRate(10, cfg), 1e-3);
  assert.ok(Math.abs(learningRate(60, cfg) - 5.5e-4) < 1e-15);
  assert.ok(Math.abs(learningRate(110, cfg) - 1e-4) < 1e-18);
  assert.ok(Math.abs(learningRate(500, cfg) - 1e-4) < 1e-18);
  for (let s = 10; s < 110; s++) assert.ok(learningRate(s + 1, cfg) <= learningRate(s, cfg));
});

Deno.test("warmedLr ramps linearly to lr and stays there; no warmup is lr itself", () => {
  assert.equal(warmedLr(4e-3, 0, 0), 4e-3);
  assert.equal(warmedLr(4e-3, 7, 0), 4e-3);
  assert.equal(warmedLr(4e-3, 0, 4), 1e-3);
  assert.equal(warmedLr(4e-3, 1, 4), 2e-3);
  assert.equal(warmedLr(4e-3, 3, 4), 4e-3);
  for (const step of [4, 5, 100, 1e6]) assert.equal(warmedLr(4e-3, step, 4), 4e-3);
  assert.equal(checkWarmup(0), 0);
  for (const bad of [-1, 1.5, NaN, Infinity]) {
    assert.throws(() => checkWarmup(bad), /warmupSteps .* not an integer >= 0/);
  }
});
