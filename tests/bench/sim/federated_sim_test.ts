/**
 * Acceptance checks of "Communication compression, differential privacy and Byzantine-robust
 * aggregation", on the real kernel without the chain: a 22k-parameter byte-level GPT, one
 * Brown genre per client (non-IID), 6 rounds of 8 local SGD-momentum steps.
 *
 * Local SGD rather than AdamW: Adam's per-coordinate normalisation makes every delta
 * coordinate about the same size, so a 1-2% top-k keeps little of it; SGD deltas are
 * heavy-tailed, which is what sparsification with error feedback relies on.
 *
 * Scale caveat: 48 local steps take the model from 5.53 nats (uniform) to ~3.1 (about the
 * unigram level of English bytes). The margins below hold in that regime; bench
 * compress_curve.ts shows the curve, and longer runs widen the top-k gap (12 rounds: 1.4%
 * at 1% density). At this horizon top-k without error feedback ends about as well, so the
 * first test checks the claim, not that error feedback is what makes it hold.
 */
import assert from "node:assert/strict";
import { createTrainer } from "../../../kernel/train_step.ts";
import { loadKernel } from "../../../kernel/wasm_module.ts";
import { initWeights, paramLayout } from "../../../kernel/params.ts";
import { loadBrownShards } from "../../../kernel/data.ts";
import { defaultHyper } from "../../../lib/round/local_training.ts";
import { topKInt8Codec } from "../../../lib/compress/top_k_int8.ts";
import { combinePlanOf, type RoundUpdate } from "../../../lib/strategy/combine_round.ts";
import { partitionSeed } from "../../../lib/compress/partition.ts";
import { BudgetExceededError } from "../../../lib/privacy/rdp_accountant.ts";
import {
  type FederatedSimOptions,
  type FederatedSimResult,
  runFederatedSim,
  simCombineSpec,
} from "../../../bench/sim/federated_sim.ts";

const kernel = loadKernel();
const trainer = createTrainer(kernel);
const shards = loadBrownShards(); // 15 genres
const hyper = defaultHyper({ kind: "gpt", maxT: 32, layers: 1, heads: 2, width: 32 }, {
  B: 8,
  T: 32,
  lr: 0.3,
});
hyper.optimizer = { kind: "sgd", momentum: 0.9, weightDecay: 0 };
const initial = initWeights(kernel, paramLayout(hyper.model), 1);

const CLIENTS = 8;
const ROUNDS = 6;
const LOCAL_STEPS = 8;
/** Top-k density: 1.5% of entries, ~2 bytes each (int8 value + varint gap) -> ~124x. */
const TOPK_FRACTION = 0.015;
const MIN_BYTES_RATIO = 100;
const MAX_COMPRESSED_LOSS_RATIO = 1.01;
/** 20% Byzantine: 3 of 15 clients (one per genre). */
const BYZ_CLIENTS = 15;
const BYZANTINE = { 12: "noise", 13: "sign-flip", 14: "scale" } as const;
const BYZ_F = 3;
const MAX_ROBUST_LOSS_RATIO = 1.05;
/** Plain FedAvg under attack must end at least this much worse than clean (or diverge). */
const MIN_ATTACKED_LOSS_RATIO = 1.5;
/** DP budget: at q = 1, z = 1 it admits 2 of the 6 rounds (epsilon 7.09; a third reaches 9.09). */
const MAX_EPSILON = 8;

function simulate(options: Partial<FederatedSimOptions> = {}): FederatedSimResult {
  return runFederatedSim(trainer, initial, {
    hyper,
    shards,
    clients: CLIENTS,
    rounds: ROUNDS,
    localSteps: LOCAL_STEPS,
    ...options,
  });
}

function final(r: FederatedSimResult): number {
  return r.valLoss.at(-1) ?? NaN;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

let cleanRun: FederatedSimResult | undefined;
const clean = () => (cleanRun ??= simulate());

Deno.test("top-k + int8 with error feedback: >= 100x fewer bytes, final loss within 1% of fp32", () => {
  const fp32 = clean();
  const topk = simulate({ codec: topKInt8Codec({ fraction: TOPK_FRACTION }) });

  const bytesRatio = fp32.fp32Bytes / mean(topk.bytesPerClient);
  const lossRatio = final(topk) / final(fp32);
  console.log(
    `  fp32 ${mean(fp32.bytesPerClient)} B/round loss ${final(fp32).toFixed(4)}; ` +
      `topk-int8 ${mean(topk.bytesPerClient).toFixed(0)} B/round loss ${final(topk).toFixed(4)}; ` +
      `bytes ratio ${bytesRatio.toFixed(1)}x, loss ratio ${lossRatio.toFixed(4)}`,
  );
  assert.equal(mean(fp32.bytesPerClient), fp32.fp32Bytes);
  assert.ok(bytesRatio >= MIN_BYTES_RATIO, `bytes ratio ${bytesRatio}`);
  assert.ok(lossRatio <= MAX_COMPRESSED_LOSS_RATIO, `loss ratio ${lossRatio}`);
  assert.ok(final(fp32) < fp32.initialLoss - 1);
});

Deno.test("partition codec: >= 100x fewer bytes, loss within 1% of fp32", () => {
  const fp32 = clean();
  const part = simulate({ partition: { jobSeed: 7 } });
  const bytesRatio = fp32.fp32Bytes / mean(part.bytesPerClient);
  const lossRatio = final(part) / final(fp32);
  console.log(
    `  partition ${mean(part.bytesPerClient).toFixed(0)} B/round loss ${final(part).toFixed(4)}; ` +
      `bytes ratio ${bytesRatio.toFixed(1)}x, loss ratio ${lossRatio.toFixed(4)}`,
  );
  assert.ok(bytesRatio >= MIN_BYTES_RATIO, `bytes ratio ${bytesRatio}`);
  assert.ok(lossRatio <= MAX_COMPRESSED_LOSS_RATIO, `loss ratio ${lossRatio}`);
});

Deno.test("20% Byzantine clients: trimmed mean, Multi-Krum and Bulyan stay within 5% of clean FedAvg; FedAvg does not", () => {
  const base = { clients: BYZ_CLIENTS };
  const cleanFedAvg = final(simulate(base));
  const attacked = { ...base, byzantine: BYZANTINE };
  const plain = simulate(attacked);
  const robust = {
    "trimmed-mean": simulate({ ...attacked, robust: { strategy: "trimmed-mean", beta: 0.2 } }),
    "multi-krum": simulate({ ...attacked, robust: { strategy: "multi-krum", f: BYZ_F } }),
    "bulyan": simulate({ ...attacked, robust: { strategy: "bulyan", f: BYZ_F } }),
  };

  console.log(
    `  clean fedavg ${cleanFedAvg.toFixed(4)}; attacked fedavg ${final(plain).toFixed(4)}; ` +
      Object.entries(robust).map(([k, r]) => `${k} ${final(r).toFixed(4)}`).join(", "),
  );
  for (const [name, r] of Object.entries(robust)) {
    assert.equal(r.diverged, false, name);
    assert.ok(final(r) <= cleanFedAvg * MAX_ROBUST_LOSS_RATIO, `${name}: ${final(r)}`);
  }
  // Multi-Krum drops exactly the 3 attackers every round; Bulyan keeps n - 2f = 9.
  assert.deepEqual(robust["multi-krum"].rejected, Array(ROUNDS).fill(BYZ_F));
  assert.deepEqual(robust.bulyan.rejected, Array(ROUNDS).fill(2 * BYZ_F));
  assert.ok(
    plain.diverged || !(final(plain) < cleanFedAvg * MIN_ATTACKED_LOSS_RATIO),
    `attacked FedAvg ended at ${final(plain)}`,
  );
});

Deno.test("20% Byzantine clients with the partition codec: per-part trimmed mean holds, FedAvg does not", () => {
  // 15 clients in 3 parts: 5 senders per part, one attacker in each (slots 12, 13, 14).
  const partition = { jobSeed: 7, parts: 3 };
  const base = { clients: BYZ_CLIENTS };
  const cleanRun = simulate({ ...base, partition });
  const attacked = { ...base, byzantine: BYZANTINE };
  const plain = simulate({ ...attacked, partition });
  const robust = simulate({
    ...attacked,
    partition,
    robust: { strategy: "trimmed-mean", beta: 0.2 },
  });
  console.log(
    `  partition: clean ${final(cleanRun).toFixed(4)}; attacked fedavg ${
      final(plain).toFixed(4)
    }; ` +
      `per-part trimmed mean ${final(robust).toFixed(4)}`,
  );
  assert.equal(robust.diverged, false);
  assert.ok(final(robust) <= final(cleanRun) * MAX_ROBUST_LOSS_RATIO, `${final(robust)}`);
  assert.ok(
    plain.diverged || !(final(plain) < final(cleanRun) * MIN_ATTACKED_LOSS_RATIO),
    `attacked FedAvg ended at ${final(plain)}`,
  );
  assert.throws(
    () => simulate({ partition, codec: topKInt8Codec() }),
    /partition sets the codec/,
  );
});

Deno.test("DP-FedAvg reports epsilon, still learns at z = 1, and stops at the budget", () => {
  const dp = { clip: 0.5, noiseMultiplier: 1, delta: 1e-5 };
  const r = simulate({ dp });
  assert.equal(r.valLoss.length, ROUNDS);
  assert.ok(r.epsilon !== undefined && r.epsilon > 0 && Number.isFinite(r.epsilon));
  assert.ok(final(r) < r.initialLoss - 1, `DP run ended at ${final(r)}`);

  const maxEpsilon = MAX_EPSILON;
  const capped = simulate({ dp: { ...dp, maxEpsilon } });
  console.log(
    `  epsilon after ${ROUNDS} rounds (q = 1, z = 1, delta = 1e-5): ${r.epsilon.toFixed(2)}; ` +
      `loss ${r.initialLoss.toFixed(3)} -> ${final(r).toFixed(3)}; ` +
      `budget ${maxEpsilon.toFixed(2)} stops after ${capped.valLoss.length} rounds`,
  );
  assert.ok(capped.budgetExceeded instanceof BudgetExceededError);
  assert.ok(capped.valLoss.length >= 1 && capped.valLoss.length < ROUNDS);
  assert.ok(capped.epsilon! <= maxEpsilon && capped.budgetExceeded.epsilon > maxEpsilon);
  // The rounds released before the refusal are the same as in the uncapped run.
  assert.deepEqual(capped.valLoss, r.valLoss.slice(0, capped.valLoss.length));
});

Deno.test("FedBuff converges with clients 1-2 versions late", () => {
  const delays = [0, 0, 0, 0, 1, 1, 2, 2];
  const r = simulate({ delays });
  console.log(`  fedbuff losses ${r.valLoss.map((x) => x.toFixed(3)).join(" ")}`);
  assert.equal(r.valLoss.length, ROUNDS);
  for (let i = 1; i < r.valLoss.length; i++) assert.ok(r.valLoss[i]! < r.valLoss[i - 1]!);
  assert.ok(final(r) < r.initialLoss - 1);
  assert.ok(final(r) <= final(clean()) * MAX_ROBUST_LOSS_RATIO);
});

Deno.test("a lazy client sends a zero delta, and runs are deterministic", () => {
  const seen: RoundUpdate[][] = [];
  const options = { rounds: 1, localSteps: 2, byzantine: { 0: "lazy" } } as const;
  const a = simulate({ ...options, observe: (_, updates) => seen.push([...updates]) });
  const b = simulate(options);
  const zeros = seen[0]!.filter((u) => u.delta.every((x) => x === 0));
  assert.equal(seen[0]!.length, CLIENTS);
  assert.equal(zeros.length, 1);
  assert.deepEqual(a.weights, b.weights);
  assert.deepEqual(a.valLoss, b.valLoss);
});

Deno.test("runFederatedSim refuses bad options", () => {
  assert.throws(() => simulate({ clients: 0 }), RangeError);
  assert.throws(() => simulate({ delays: [0] }), RangeError);
  assert.throws(
    () => simulate({ dp: { clip: 1, noiseMultiplier: 1 }, robust: { strategy: "trimmed-mean" } }),
    TypeError,
  );
});

Deno.test("the simulator's round is planned as the coordinator plans a job's", () => {
  // Prepare: a robust partition job, as the sim's options describe it.
  const spec = simCombineSpec({
    model: hyper.model,
    partition: { jobSeed: 7, parts: 3 },
    robust: { strategy: "trimmed-mean", beta: 0.2 },
  });
  // Execute
  const plan = combinePlanOf(spec, 2);
  // Assert: the trimmed mean runs per part over the senders; nothing is rebalanced.
  assert.deepEqual(plan.partition, {
    seed: partitionSeed(7, 2),
    parts: 3,
    perPart: true,
    rebalance: false,
  });
  assert.equal(plan.strategyFor!(5).name, "trimmed-mean");
  assert.equal(combinePlanOf(simCombineSpec({ model: hyper.model }), 0).strategyFor, undefined);
});
