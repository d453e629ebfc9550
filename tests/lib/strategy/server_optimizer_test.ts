import assert from "node:assert/strict";
import { FedAvg } from "../../../lib/strategy/fed_avg.ts";
import { OuterOptimizer } from "../../../lib/strategy/outer_optimizer.ts";
import { ServerAdam } from "../../../lib/strategy/server_adam.ts";
import { serverOptimizerFor } from "../../../lib/strategy/server_optimizer.ts";
import { randomUpdates, sameBytes, threeUpdates } from "./_updates.ts";

Deno.test("serverOptimizerFor: fedavg has no optimizer", () => {
  assert.equal(serverOptimizerFor({ strategy: "fedavg" }, 3), undefined);
});

Deno.test("serverOptimizerFor: each strategy steps as its optimizer with the spec's fields", () => {
  // Prepare: FedAvg delta [1.25, 1.5, 0.5] for three rounds.
  const delta = new FedAvg().aggregate(threeUpdates()).delta;
  const cases = [
    [{ strategy: "diloco" }, () => new OuterOptimizer(3, { lr: 0.7, momentum: 0.9 })],
    [
      { strategy: "diloco", outerLr: 0.5, outerMomentum: 0.8, outerNesterov: false },
      () => new OuterOptimizer(3, { lr: 0.5, momentum: 0.8, nesterov: false }),
    ],
    [
      { strategy: "fedavgm" },
      () => new OuterOptimizer(3, { lr: 1, momentum: 0.9, nesterov: false }),
    ],
    [
      { strategy: "fedadam", outerLr: 0.1, outerTau: 0.01 },
      () => new ServerAdam(3, { lr: 0.1, tau: 0.01 }),
    ],
    [
      { strategy: "fedyogi", outerLr: 0.1, outerBeta2: 0.9 },
      () => new ServerAdam(3, { lr: 0.1, beta2: 0.9, variant: "yogi" }),
    ],
    [
      { strategy: "fedadam", outerLr: 0.1, outerBiasCorrection: true, outerWarmupRounds: 2 },
      () => new ServerAdam(3, { lr: 0.1, biasCorrection: true, warmupSteps: 2 }),
    ],
    [
      { strategy: "diloco", outerWarmupRounds: 5 },
      () => new OuterOptimizer(3, { lr: 0.7, momentum: 0.9, warmupSteps: 5 }),
    ],
  ] as const;
  for (const [config, direct] of cases) {
    const opt = serverOptimizerFor(config, 3)!;
    const ref = direct();
    const a = new Float32Array([1, 2, 3]), b = a.slice();
    // Execute
    for (let r = 0; r < 3; r++) {
      opt.step(a, delta);
      ref.step(b, delta);
    }
    // Assert
    assert.ok(sameBytes(a, b), JSON.stringify(config));
    assert.equal(opt.steps, 3);
  }
});

Deno.test("serverOptimizerFor: state() and load() resume bit for bit", () => {
  const deltas = [1, 2, 3].map((s) => new FedAvg().aggregate(randomUpdates(4, 1_000, s)).delta);
  for (
    const config of [
      { strategy: "diloco" },
      { strategy: "fedavgm", outerMomentum: 0.5 },
      { strategy: "fedyogi", outerLr: 0.01 },
    ] as const
  ) {
    const whole = serverOptimizerFor(config, 1_000)!;
    const first = serverOptimizerFor(config, 1_000)!;
    const w = new Float32Array(1_000), resumed = w.slice();
    for (const d of deltas) whole.step(w, d);
    first.step(resumed, deltas[0]!);
    const saved = Object.fromEntries(
      Object.entries(first.state()).map(([k, v]) => [k, v.slice()]),
    );
    const second = serverOptimizerFor(config, 1_000)!;
    second.load(saved, first.steps);
    second.step(resumed, deltas[1]!);
    second.step(resumed, deltas[2]!);
    assert.ok(sameBytes(w, resumed), config.strategy);
    assert.throws(() => second.load({}, 1), /no "(velocity|m)" buffer/);
  }
});

Deno.test("serverOptimizerFor: fedadam without outerLr and unknown strategies are refused", () => {
  assert.throws(() => serverOptimizerFor({ strategy: "fedadam" }, 3), /needs outerLr/);
  assert.throws(
    () => serverOptimizerFor({ strategy: "fedprox" as "fedavg" }, 3),
    /unknown strategy fedprox/,
  );
  assert.throws(() => serverOptimizerFor({ strategy: "diloco", outerMomentum: 1 }, 3), RangeError);
});
