import assert from "node:assert/strict";
import { DpFedAvg } from "../../../lib/strategy/dp_fed_avg.ts";
import { AdaptiveClipper } from "../../../lib/privacy/adaptive_clip.ts";
import { BudgetExceededError, RdpAccountant } from "../../../lib/privacy/rdp_accountant.ts";
import { assertClose, upd } from "./_fixtures.ts";

Deno.test("DP-FedAvg without noise: clip each update, unweighted mean", () => {
  // Prepare: [3,4] (norm 5) clips to [0.6, 0.8]; [0.1, 0] stays
  const dp = new DpFedAvg({ clip: 1, noiseMultiplier: 0 });
  // Execute
  const r = dp.aggregate([upd("0xa", [3, 4], 10), upd("0xb", [0.1, 0], 1)]);
  // Assert: numSamples ignored
  assertClose(r.delta, [0.35, 0.4]);
});

Deno.test("DP-FedAvg noise on the mean has std z*C/n and is reproducible by seed", () => {
  // Prepare: 4 clients of zeros, 100k coordinates
  const updates = ["0xa", "0xb", "0xc", "0xd"].map((id) => upd(id, new Array(100_000).fill(0)));
  const z = 1.1, clip = 0.5;
  // Execute
  const r = new DpFedAvg({ clip, noiseMultiplier: z, seed: 11 }).aggregate(updates);
  // Assert
  let s = 0, q = 0;
  for (const x of r.delta) {
    s += x;
    q += x * x;
  }
  const mean = s / r.delta.length;
  const std = Math.sqrt(q / r.delta.length - mean * mean);
  const expected = (z * clip) / 4;
  assert.ok(Math.abs(mean) < 5 * expected / Math.sqrt(r.delta.length), `mean ${mean}`);
  assert.ok(Math.abs(std - expected) < 0.015 * expected, `std ${std} vs ${expected}`);
  const again = new DpFedAvg({ clip, noiseMultiplier: z, seed: 11 }).aggregate(updates);
  assert.deepEqual(again.delta, r.delta);
});

Deno.test("attacker: DP-FedAvg without a seed draws secret noise, not a public stream", () => {
  // Found in the privacy audit: the default seed was 0, so two coordinators (or an attacker
  // replaying the code) drew the same noise and could subtract it from a released mean.
  const updates = ["0xa", "0xb"].map((id) => upd(id, new Array(64).fill(0)));
  const a = new DpFedAvg({ clip: 1, noiseMultiplier: 1 }).aggregate(updates).delta;
  const b = new DpFedAvg({ clip: 1, noiseMultiplier: 1 }).aggregate(updates).delta;
  const zero = new DpFedAvg({ clip: 1, noiseMultiplier: 1, seed: 0 }).aggregate(updates).delta;
  assert.notDeepEqual(a, b);
  assert.notDeepEqual(a, zero);
});

Deno.test("DP-FedAvg charges the accountant and stops at the budget", () => {
  const accountant = new RdpAccountant({ delta: 1e-5, maxEpsilon: 1 });
  const dp = new DpFedAvg({ clip: 1, noiseMultiplier: 1.1, seed: 1, accountant, sampleRate: 0.01 });
  const updates = [upd("0xa", [1]), upd("0xb", [2])];
  let rounds = 0;
  assert.throws(() => {
    for (;; rounds++) dp.aggregate(updates);
  }, BudgetExceededError);
  assert.equal(accountant.steps, rounds);
  assert.ok(rounds > 5, `only ${rounds} rounds`);
});

Deno.test("DP-FedAvg with adaptive clipping moves the bound toward the median norm", () => {
  const clipper = new AdaptiveClipper({ initialClip: 10, targetQuantile: 0.5 });
  const dp = new DpFedAvg({ clip: clipper, noiseMultiplier: 0 });
  const updates = [1, 2, 3, 4, 5].map((n, i) => upd(`0x${i}`, [n, 0]));
  for (let r = 0; r < 100; r++) dp.aggregate(updates);
  assert.ok(dp.clip > 2 && dp.clip < 4.5, `clip ${dp.clip}`);
});
