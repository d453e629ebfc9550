/**
 * Differential privacy from the attacker's side: the noise of a DP round cannot be regenerated
 * from the public job spec, two jobs with the same seed do not share noise, every data owner's
 * epsilon counts every copy of its data in a round (checked against an accountant written here
 * from the Gaussian mechanism's RDP), and an over-budget job is refused before any escrow.
 */
import assert from "node:assert/strict";
import { Prng } from "../../lib/crypto/prng.ts";
import { addGaussianNoise } from "../../lib/privacy/dp.ts";
import { DpFedAvg } from "../../lib/strategy/dp_fed_avg.ts";
import { loadWeights } from "../../lib/coordinator/job.ts";
import { prepareJob } from "../../lib/job/job_owner.ts";
import { PrivacyBudgetError } from "../../lib/job/privacy_plan.ts";
import type { ClientUpdate } from "../../lib/strategy/strategy.ts";
import { envelopeToJson } from "../../lib/round/update_envelope.ts";
import {
  escrowSpec,
  read,
  setupCoordinator,
  type TestJob,
  TINY_BATCH,
  TINY_MODEL,
} from "./_coordinator.ts";
import type { Scenario } from "./_coordinator.ts";

const PRIVACY = { clip: 0.05, noiseMultiplier: 1, delta: 1e-5, maxEpsilon: 1_000 };

/**
 * Epsilon of `rounds` full-batch Gaussian rounds with sensitivity `copies` x clip and noise
 * z x clip, written independently of lib/privacy: RDP(a) = rounds x a x copies^2 / (2 z^2), and
 * the conversion of Balle et al. 2020, minimised over a fine grid of orders.
 */
function independentEpsilon(z: number, copies: number, rounds: number, delta: number): number {
  let best = Infinity;
  for (let a = 1.01; a < 512; a *= 1.002) {
    const rdp = (rounds * a * copies * copies) / (2 * z * z);
    const eps = rdp + Math.log1p(-1 / a) - (Math.log(delta) + Math.log(a)) / (a - 1);
    best = Math.min(best, eps);
  }
  return best;
}

/** Trains every node of one round, posts the updates, closes the round; returns the deltas. */
async function runRound(s: Scenario, job: TestJob): Promise<ClientUpdate[]> {
  const updates: ClientUpdate[] = [];
  for (const n of job.nodes) {
    const u = await s.train(job, n);
    const res = await s.post("/aggregate/update", envelopeToJson(u.envelope));
    assert.equal(res.status, 201, await res.text());
    updates.push({ nodeId: n.nodePubkey, delta: u.result.delta, numSamples: u.result.samples });
  }
  const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(out.status, "closed");
  return updates;
}

/** What the round added to the clean clipped mean: checkpoint(1) - checkpoint(0) - mean. */
async function releasedNoise(s: Scenario, job: TestJob, updates: ClientUpdate[]) {
  const before = await loadWeights(s.ctx.store, job.spec.initialWeights);
  const after = await loadWeights(s.ctx.store, (await s.jobRecord(job.jobId)).globalCid);
  const clean = new DpFedAvg({ clip: PRIVACY.clip, noiseMultiplier: 0 }).aggregate(updates).delta;
  return Float64Array.from(after, (w, i) => w - before[i]! - clean[i]!);
}

function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! ** 2;
  return Math.sqrt(s);
}

Deno.test("differential privacy", async (t) => {
  await using fx = await setupCoordinator();

  await t.step("nodes that outnumber the shards get tasks of their own", async () => {
    const s = await fx.scenario();
    const job = await s.job({ nodes: 4, shards: 2, rounds: 1, privacy: PRIVACY });
    const tasks = await Promise.all(
      job.nodes.map(async (n) => (await read(await s.call(`/assign?node=${n.nodePubkey}`))).body),
    );
    assert.deepEqual(tasks.map((x) => x.shard.index).sort(), [0, 0, 1, 1]);
    assert.equal(new Set(tasks.map((x) => x.seed)).size, 4, "four distinct task seeds");
  });

  await t.step("the noise cannot be regenerated from the public spec", async () => {
    const s = await fx.scenario();
    const job = await s.job({ nodes: 4, shards: 2, rounds: 1, privacy: PRIVACY });
    const updates = await runRound(s, job);
    const noise = await releasedNoise(s, job, updates);
    assert.ok(norm(noise) > 0, "the round was noised");
    // The attacker's best public guess: the generator seeded by (spec.seed ^ round), as before.
    const guess = addGaussianNoise(
      new Float32Array(noise.length),
      PRIVACY.noiseMultiplier * PRIVACY.clip,
      new Prng((job.spec.seed ^ 0) >>> 0),
    ).map((x) => x / updates.length);
    const residual = Float64Array.from(noise, (x, i) => x - guess[i]!);
    assert.ok(
      norm(residual) > 0.9 * norm(noise),
      `subtracting the regenerated noise left ${norm(residual) / norm(noise)} of it`,
    );
    const expected = (PRIVACY.noiseMultiplier * PRIVACY.clip / updates.length) *
      Math.sqrt(noise.length);
    assert.ok(Math.abs(norm(noise) / expected - 1) < 0.1, "the noise has the accounted std");
  });

  await t.step("two jobs with the same public seed draw different noise", async () => {
    const s = await fx.scenario();
    const a = await s.job({ nodes: 2, rounds: 1, privacy: PRIVACY });
    const na = await releasedNoise(s, a, await runRound(s, a));
    const s2 = await fx.scenario();
    const b = await s2.job({ nodes: 2, rounds: 1, privacy: PRIVACY });
    assert.equal(a.spec.seed, b.spec.seed);
    const nb = await releasedNoise(s2, b, await runRound(s2, b));
    const diff = Float64Array.from(na, (x, i) => x - nb[i]!);
    assert.ok(norm(diff) > norm(na), "independent draws differ by more than either");
  });

  await t.step("each data owner's epsilon counts every copy of its data", async () => {
    const s = await fx.scenario();
    const job = await s.job({ nodes: 4, shards: 2, rounds: 2, privacy: PRIVACY });
    await runRound(s, job);
    const rec = await s.jobRecord(job.jobId);
    assert.deepEqual(rec.privacy!.shardCopyRuns, [[[2, 1]], [[2, 1]]]);
    const truth = independentEpsilon(PRIVACY.noiseMultiplier, 2, 1, PRIVACY.delta);
    // Our accountant uses a discrete set of orders: never below the truth, within 1% of it.
    const eps = rec.privacy!.epsilon;
    assert.ok(eps >= truth - 1e-9 && (eps - truth) / truth < 0.01, `${eps} vs ${truth}`);
    const once = independentEpsilon(PRIVACY.noiseMultiplier, 1, 1, PRIVACY.delta);
    assert.ok(rec.privacy!.epsilon > 1.5 * once, "two copies cost more than one");
  });

  await t.step("an over-budget job is refused before the owner escrows", async () => {
    const s = await fx.scenario();
    const tight = { ...PRIVACY, maxEpsilon: 12 };
    const shard = { name: "x", train: new Uint8Array(400).fill(97), val: new Uint8Array(64) };
    const options = { model: TINY_MODEL, shards: [shard], rounds: 4, localSteps: 1, ...TINY_BATCH };
    await assert.rejects(
      prepareJob(s.ctx.store, { ...options, privacy: tight, nodes: 4 }),
      (e) => e instanceof PrivacyBudgetError && /4 updates per data owner/.test(e.message),
    );
    await assert.rejects(prepareJob(s.ctx.store, { ...options, privacy: tight }), TypeError);
    // A spec planned for one node but escrowed for four: the coordinator refuses to assign it.
    const { spec, specCid } = await prepareJob(s.ctx.store, {
      ...options,
      privacy: tight,
      nodes: 1,
    });
    const jobId = await escrowSpec(fx, spec, { nodes: 4 });
    const res = await read(await s.postAs("/assign", { jobId, specCid }));
    assert.equal(res.status, 409);
    assert.equal(res.body.error.code, "PRIVACY_BUDGET_EXCEEDED");
  });

  await t.step("adaptive clipping: noised count, raised update noise, charged z", async () => {
    const s = await fx.scenario();
    const adaptiveClip = { targetQuantile: 0.5, learningRate: 0.2, countNoiseStd: 1 };
    const privacy = { ...PRIVACY, adaptiveClip };
    await assert.rejects(
      s.job({
        nodes: 2,
        rounds: 1,
        privacy: { ...privacy, adaptiveClip: { ...adaptiveClip, countNoiseStd: 0 } },
      }),
      /countNoiseStd must exceed noiseMultiplier \/ 2/,
    );
    const job = await s.job({ nodes: 2, rounds: 2, privacy });
    const updates = await runRound(s, job);
    const rec = await s.jobRecord(job.jobId);
    assert.notEqual(rec.privacy!.clip, PRIVACY.clip, "the clip moved after the round");
    const noise = await releasedNoise(s, job, updates);
    const zDelta = (PRIVACY.noiseMultiplier ** -2 - (2 * adaptiveClip.countNoiseStd) ** -2) ** -0.5;
    const expected = (zDelta * PRIVACY.clip / updates.length) * Math.sqrt(noise.length);
    assert.ok(Math.abs(norm(noise) / expected - 1) < 0.1, `${norm(noise)} vs ${expected}`);
    // Both Gaussian releases composed by the accountant above: the update sum (sensitivity one
    // copy x clip, noise z_delta x clip) and the shifted count (sensitivity 1/2 per copy, noise
    // sigma_b; measured from the clipper's output in tests/lib/privacy/adaptive_clip_test.ts).
    const copies = rec.privacy!.shardCopyRuns.flat().map(([m]) => m);
    assert.ok(copies.every((m) => m === 1));
    const zPair = (zDelta ** -2 + (0.5 / adaptiveClip.countNoiseStd) ** 2) ** -0.5;
    const truth = independentEpsilon(zPair, 1, 1, PRIVACY.delta);
    const eps = rec.privacy!.epsilon;
    assert.ok(eps >= truth - 1e-9 && (eps - truth) / truth < 0.01, `${eps} vs ${truth}`);
  });
});
