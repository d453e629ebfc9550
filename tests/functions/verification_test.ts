import assert from "node:assert/strict";
import { encodeFunctionData, parseAbi } from "viem";
import { abis, SlashReason } from "../../lib/chain/contracts.ts";
import { commitRound } from "../../lib/chain/commit_round.ts";
import { getJobSettlement } from "../../lib/chain/get_job_settlement.ts";
import { getChallenge } from "../../lib/chain/get_challenge.ts";
import { issueChallenge } from "../../lib/chain/issue_challenge.ts";
import { issueStepChallenge } from "../../lib/chain/issue_step_challenge.ts";
import { ChallengeStatus } from "../../lib/chain/contracts.ts";
import { getTaskGroup } from "../../lib/chain/get_task_group.ts";
import { refuseTask } from "../../lib/worker/task_check.ts";
import type { TrainTask } from "../../lib/worker/task.ts";
import { sendContract } from "../../lib/chain/send_contract.ts";
import { f32Bytes, type LocalResult, STEP_RECORD_BYTES } from "../../lib/round/local_training.ts";
import { merkleRoot } from "../../lib/crypto/merkle.ts";
import { envelopeToJson } from "../../lib/round/update_envelope.ts";
import { listValues } from "../../lib/coordinator/state.ts";
import { decodeCheckpoint } from "../../lib/model/checkpoint.ts";
import type { ChallengeRecord } from "../../lib/coordinator/challenges.ts";
import { ChallengeResponder } from "../../lib/verify/responder.ts";
import { committedUpdateBytes } from "../../lib/worker/deliver.ts";
import {
  type Coordinator,
  losingAnswers,
  onlyLive,
  pairWithSpare,
  read,
  type Scenario,
  setupCoordinator,
  type TestJob,
  type TestNode,
} from "./_coordinator.ts";

/** A result whose update is noise: committed and revealed consistently, but not the training. */
function noisy(r: LocalResult, global: Float32Array): LocalResult {
  const delta = r.delta.map((_, i) => Math.sin(i) * 0.01);
  const weights = global.map((w, i) => w + delta[i]!);
  return {
    ...r,
    delta,
    weights,
    payload: undefined,
    gradientDigest: merkleRoot(f32Bytes(delta)),
    weightsDigest: merkleRoot(f32Bytes(weights)),
  };
}

/** A result whose per-step records are made up (the update itself is honest). */
function fabricated(r: LocalResult): LocalResult {
  const stepRecords = r.stepRecords.slice();
  for (let s = 0; s * STEP_RECORD_BYTES < stepRecords.length; s++) {
    stepRecords.fill(7, s * STEP_RECORD_BYTES + 4, s * STEP_RECORD_BYTES + 36); // weights hash
  }
  return { ...r, stepRecords, lossDigest: merkleRoot(stepRecords, STEP_RECORD_BYTES) };
}

// The partition codec keeps no residual, so its rounds are recomputed like fp32 ones.
for (const compression of [undefined, { codec: "partition" as const, parts: 4 }]) {
  const codec = compression ? ` (${compression.codec} codec)` : "";
  Deno.test(`the coordinator challenges every commit at rate 1 and acts on the answers${codec}`, async (t) => {
    await using fx = await setupCoordinator({ operators: 4 });
    const s = await fx.scenario();
    const job = await s.job({
      nodes: 4,
      rounds: 2,
      verification: { redundancy: 1, challengeRate: 1, sampleRate: 0 },
      compression,
    });
    const [honest, faker, fabricator, silent] = job.nodes as [
      typeof job.nodes[0],
      typeof job.nodes[0],
      typeof job.nodes[0],
      typeof job.nodes[0],
    ];
    faker.cheat.tamper = (r, task) => task.round === 0 ? noisy(r, task.global) : r;
    fabricator.cheat.tamper = (r, task) => task.round === 0 ? fabricated(r) : r;
    silent.cheat.challenges = "silent";
    const slashes = async (node: string) =>
      (await fx.coordinator.getContractEvents({
        address: fx.addresses.registry,
        abi: abis.registry,
        eventName: "NodeSlashed",
        args: { nodePubkey: node as `0x${string}` },
        fromBlock: 0n,
      })).map((e) => [e.args.reason, e.args.amount]);
    const ARTH = 10n ** 18n;

    await t.step(
      "closing a round issues a chunk and a step challenge per committed node",
      async () => {
        for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
        const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
        assert.equal(out.status, "closed");
        assert.equal(out.challenges, 8);
        const recs = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
        assert.deepEqual(recs.map((r) => r.status), Array(8).fill("open"));
        assert.deepEqual(recs.filter((r) => r.kind === "step").length, 4);
      },
    );

    await t.step(
      "answers are recomputed: fake update 50%, fake step records 50%, silence 10% twice",
      async () => {
        for (const n of job.nodes) await n.worker.answerChallenges();
        await fx.coordinator.request({
          method: "evm_increaseTime" as never,
          params: [3601] as never,
        });
        await fx.coordinator.request({ method: "evm_mine" as never, params: [] as never });
        await s.post("/aggregate", { jobId: job.jobId });
        const recs = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
        const status = (node: string, kind: string) =>
          recs.find((r) => r.nodePubkey === node && r.kind === kind)!.status;
        assert.equal(status(honest.nodePubkey, "challenge"), "verified");
        assert.equal(status(honest.nodePubkey, "step"), "verified");
        assert.equal(status(faker.nodePubkey, "challenge"), "penalised");
        // Its training records are honest, but its commit is not the recomputed round's, which
        // every answer is judged by (found in the verification audit), and likewise below.
        assert.equal(status(faker.nodePubkey, "step"), "penalised");
        assert.equal(status(fabricator.nodePubkey, "challenge"), "penalised");
        assert.equal(status(fabricator.nodePubkey, "step"), "penalised");
        assert.equal(status(silent.nodePubkey, "challenge"), "timed-out");
        assert.equal(status(silent.nodePubkey, "step"), "timed-out");
        assert.deepEqual(await slashes(honest.nodePubkey), []);
        const twice = [[SlashReason.FakeGradients, 5n * ARTH], [
          SlashReason.FakeGradients,
          5n * ARTH / 2n,
        ]];
        assert.deepEqual(await slashes(faker.nodePubkey), twice);
        assert.deepEqual(await slashes(fabricator.nodePubkey), twice);
        assert.deepEqual(await slashes(silent.nodePubkey), [
          [SlashReason.FailedVerification, ARTH],
          [SlashReason.FailedVerification, 9n * ARTH / 10n],
        ]);
      },
    );
  });
}

/**
 * A task group of two where `honest` trains and delivers round 0 and `copier` reads its public
 * commit and commits the same digests (which redundancy would confirm) with made-up proofs, and
 * delivers nothing.
 */
async function copiedRound(fx: Coordinator, job: TestJob): Promise<[TestNode, TestNode]> {
  const [honest, copier] = job.nodes as [TestNode, TestNode];
  assert.equal(await honest.worker.tick(), "trained");
  const [seen] = await fx.coordinator.getContractEvents({
    address: fx.addresses.proofs,
    abi: abis.proofs,
    eventName: "RoundCommitted",
    args: { jobId: job.jobId, nodePubkey: honest.nodePubkey },
    fromBlock: 0n,
  });
  const { lossDigest, gradientDigest, weightsDigest } = seen!.args;
  await commitRound(copier.operator, {
    addresses: fx.addresses,
    commit: {
      jobId: job.jobId,
      round: 0,
      nodePubkey: copier.nodePubkey,
      lossDigest: lossDigest!,
      gradientDigest: gradientDigest!,
      weightsDigest: weightsDigest!,
      proofsRoot: `0x${"ab".repeat(32)}`,
    },
  });
  return [honest, copier];
}

Deno.test("attacker: a copier that goes silent until it is reassigned is still challenged for its commit", async () => {
  // Prepare: the honest node trains and commits but has not delivered yet; the copier commits
  // its digests, then stops heartbeating; a spare waits. Found in the fifth audit: only nodes
  // still assigned were challenged for an undelivered commit, and a moved node's stays paid.
  await using fx = await setupCoordinator({ operators: 2 });
  const { s, job, first: honest, second: copier } = await pairWithSpare(fx);
  const u = await s.train(job, honest);
  const { lossDigest, gradientDigest, weightsDigest } = u.result;
  const at = { jobId: job.jobId, round: 0, nodePubkey: copier.nodePubkey };
  const made = {
    ...at,
    lossDigest,
    gradientDigest,
    weightsDigest,
    proofsRoot: u.result.proofsRoot,
  };
  await commitRound(copier.operator, { addresses: fx.addresses, commit: made });
  await onlyLive(fx, [honest, ...job.spares]);

  // Execute: nobody delivered by the deadline, so the silent copier's task moves to the spare
  // and the round is extended; the honest update and the spare's arrive; the round closes.
  s.advance(job.spec.aggregation.deadlineMs);
  const [extended] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  await s.post("/aggregate/update", envelopeToJson(u.envelope));
  assert.equal(await job.spares[0]!.worker.tick(), "trained");
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;

  // Assert: moved off the job mid-round, and challenged for the round it committed.
  assert.equal(extended.status, "extended");
  assert.equal(closed.status, "closed");
  const rec = await s.jobRecord(job.jobId);
  assert.deepEqual(rec.reassigned.map((r) => r.from), [copier.nodePubkey]);
  const recs = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
  assert.deepEqual(recs.map((r) => [r.nodePubkey, r.kind]), [
    [copier.nodePubkey, "challenge"],
    [copier.nodePubkey, "step"],
  ]);
});

Deno.test("attacker: a spare that takes a silent node's task takes its place in the task group, so its inputs are bound and its commits judged", async () => {
  // Prepare: a task group of two, one of which goes silent before training; a spare waits.
  // Found in the worker audit: the spare sat in no group (0), so its worker checked no seed,
  // shard or slot (a relay's seed + 1 had it slashed by the coordinator's recomputation) and
  // redundancy never compared its commits.
  await using fx = await setupCoordinator({ operators: 2 });
  const { s, job, first: honest, second: silent, spare } = await pairWithSpare(fx);
  await onlyLive(fx, [honest, spare]);

  // Execute: the deadline passes, the silent node's task moves to the spare.
  s.advance(job.spec.aggregation.deadlineMs);
  const [extended] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(extended.status, "extended");
  const groupOf = (n: TestNode) =>
    getTaskGroup(fx.coordinator, {
      addresses: fx.addresses,
      jobId: job.jobId,
      nodePubkey: n.nodePubkey,
    });

  // Assert: the spare is in the silent node's group, so a relay's other seed is refused, and
  // with the honest member it makes the group's majority of round 0.
  assert.equal(await groupOf(spare), await groupOf(silent));
  const task = (await read(await s.call(`/assign?node=${spare.nodePubkey}`))).body as TrainTask;
  assert.equal(task.status, "task");
  const asked = { addresses: fx.addresses, nodePubkey: spare.nodePubkey, spec: job.spec };
  assert.equal(await refuseTask(spare.operator, { ...asked, task }), undefined);
  const relayed = { ...task, seed: task.seed + 1 };
  assert.match((await refuseTask(spare.operator, { ...asked, task: relayed }))!, /task group 1's/);
  assert.equal(await honest.worker.tick(), "trained");
  assert.equal(await spare.worker.tick(), "trained");
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(closed.status, "closed");
  const [, count, committed, consensus] = await fx.coordinator.readContract({
    address: fx.addresses.verification,
    abi: abis.verification,
    functionName: "groupMajority",
    args: [job.jobId, 0, await groupOf(spare)],
  });
  assert.deepEqual([count, committed, consensus], [2n, 2n, true]);
});

Deno.test("attacker: a node that copies its group mate's commit and delivers nothing is challenged and loses the job's reward", async () => {
  // Prepare: a task group of two under redundancy, with no challenge rate at all.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 2,
    rounds: 2,
    verification: { redundancy: 2, challengeRate: 0, sampleRate: 0 },
  });

  // Execute: the honest node trains and delivers; the copier copies its commit.
  const [, copier] = await copiedRound(fx, job);
  s.advance(job.spec.aggregation.deadlineMs);
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(closed.status, "closed");
  assert.equal(closed.updates, 1);
  // The copier cannot open a chunk or a step of work it never did; its window runs out.
  await fx.coordinator.request({ method: "evm_increaseTime" as never, params: [3601] as never });
  await fx.coordinator.request({ method: "evm_mine" as never, params: [] as never });
  await s.post("/aggregate", { jobId: job.jobId });

  // Assert: both challenges on the copier timed out: 10% of its stake twice and its quality on
  // the job zeroed; the honest node, which delivered, was not challenged at all.
  const recs = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
  assert.deepEqual(
    recs.map((r) => [r.nodePubkey, r.kind, r.status]),
    [[copier.nodePubkey, "challenge", "timed-out"], [copier.nodePubkey, "step", "timed-out"]],
  );
  const work = await fx.coordinator.readContract({
    address: fx.addresses.proofs,
    abi: abis.proofs,
    functionName: "workOf",
    args: [job.jobId, copier.nodePubkey, copier.operator.account.address],
  });
  assert.equal(work.qualityBps, 0);
});

Deno.test("attacker: a last-round copier whose challenges outlast the settlement delay is not paid", async () => {
  // Prepare: a one-round job whose challenges take longer to run out (2 h) than its settlement
  // waits (1 h), as happens with the defaults when a challenge is issued after the close.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  await sendContract(fx.coordinator, {
    address: fx.addresses.proofs,
    abi: abis.proofs,
    functionName: "setSettlementDelay",
    args: [3600n],
  });
  await sendContract(fx.coordinator, {
    address: fx.addresses.verification,
    abi: abis.verification,
    functionName: "setResponseWindow",
    args: [7200n],
  });
  const job = await s.job({
    nodes: 2,
    rounds: 1,
    verification: { redundancy: 2, challengeRate: 0, sampleRate: 0 },
  });
  const [honest, copier] = await copiedRound(fx, job);
  s.advance(job.spec.aggregation.deadlineMs);
  assert.equal(
    (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0].status,
    "closed",
  );
  const elapse = async (seconds: number) => {
    await fx.coordinator.request({
      method: "evm_increaseTime" as never,
      params: [seconds] as never,
    });
    await fx.coordinator.request({ method: "evm_mine" as never, params: [] as never });
  };

  // Execute: the settlement delay passes while the copier's challenges are still open, and the
  // copier asks for settlement (on chain it is anyone's call; here through the route).
  await elapse(3601);
  const early = await read(await s.post("/finalize", { jobId: job.jobId }));

  // Assert: refused until the challenges end; then the coordinator claims their timeouts and
  // settles, and the copier's share is zero while the honest node is paid.
  assert.equal(early.status, 409);
  assert.equal(early.body.error.code, "VERIFICATION_OPEN");
  assert.equal((await s.jobRecord(job.jobId)).status, "completed");
  await elapse(3600);
  const done = await read(await s.post("/finalize", { jobId: job.jobId }));
  assert.equal(done.status, 200);
  const settled = await getJobSettlement(fx.coordinator, {
    addresses: fx.addresses,
    jobId: job.jobId,
  });
  const paid = (n: string) => settled!.rewards.find((r) => r.nodePubkey === n)!;
  assert.equal(paid(copier.nodePubkey).stepReward + paid(copier.nodePubkey).roundReward, 0n);
  assert.ok(paid(honest.nodePubkey).total > 0n);
});

Deno.test("a challenge another authorised verifier issued and left is followed up, so it cannot hold the job's payout", async () => {
  // Prepare: a second verifier, authorised by the deployment's owner; a one-round job whose
  // nodes both commit.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const other = fx.clients[4]!; // no node of this job runs under it
  await sendContract(fx.coordinator, {
    address: fx.addresses.verification,
    abi: abis.verification,
    functionName: "setAuthorised",
    args: [other.account.address, true],
  });
  const job = await s.job({ nodes: 2, rounds: 1 });
  const [absent, present] = job.nodes as [TestNode, TestNode];
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");

  // Execute: the other verifier challenges a node's round and is never heard from again; the
  // node is offline and never answers; the round closes, the window passes, finalize.
  const { challengeId } = await issueChallenge(other, {
    addresses: fx.addresses,
    jobId: job.jobId,
    round: 0,
    nodePubkey: absent.nodePubkey,
  });
  const closed = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0];
  assert.equal(closed.status, "closed");
  await fx.coordinator.request({ method: "evm_increaseTime" as never, params: [3601] as never });
  await fx.coordinator.request({ method: "evm_mine" as never, params: [] as never });
  const done = await read(await s.post("/finalize", { jobId: job.jobId }));

  // Assert: the coordinator claimed the timeout and settled: the silent node is unpaid, the
  // other paid.
  assert.equal(done.status, 200, JSON.stringify(done.body));
  const c = await getChallenge(fx.coordinator, { addresses: fx.addresses, challengeId });
  assert.equal(c.status, ChallengeStatus.Failed);
  const settled = await getJobSettlement(fx.coordinator, {
    addresses: fx.addresses,
    jobId: job.jobId,
  });
  const paid = (n: string) => settled!.rewards.find((r) => r.nodePubkey === n)!;
  assert.equal(paid(absent.nodePubkey).total, 0n);
  assert.ok(paid(present.nodePubkey).total > 0n);
});

Deno.test("attacker: racing POST /aggregate and /finalize calls penalise one wrong answer once", async () => {
  // Prepare: a faker whose round-0 update is noise; every round challenged; the answers held
  // back until the job has completed.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 3,
    rounds: 2,
    verification: { redundancy: 1, challengeRate: 1, sampleRate: 0 },
  });
  const faker = job.nodes[1]!;
  faker.cheat.tamper = (r, task) => task.round === 0 ? noisy(r, task.global) : r;
  for (const n of job.nodes) n.cheat.challenges = "silent";
  for (let round = 0; round < 2; round++) {
    for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
    await s.post("/aggregate", { jobId: job.jobId });
  }
  assert.equal((await s.jobRecord(job.jobId)).status, "completed");
  for (const n of job.nodes) {
    n.cheat.challenges = "honest";
    await n.worker.answerChallenges();
  }

  // Execute: anyone's calls, all at once.
  const calls = await Promise.all([
    s.post("/aggregate", {}),
    s.post("/aggregate", {}),
    s.post("/finalize", { jobId: job.jobId }),
  ]);
  for (const r of calls) await r.body?.cancel();
  await s.post("/finalize", { jobId: job.jobId });

  // Assert: each of the faker's two wrong answers (its chunk, and its step: the step record is
  // honest but the commit is not the recomputed round's) is one penalty, not one per call.
  const slashes = await fx.coordinator.getContractEvents({
    address: fx.addresses.registry,
    abi: abis.registry,
    eventName: "NodeSlashed",
    args: { nodePubkey: faker.nodePubkey },
    fromBlock: 0n,
  });
  const fake = slashes.filter((e) => e.args.reason === SlashReason.FakeGradients);
  assert.deepEqual(fake.map((e) => e.args.amount), [5n * 10n ** 18n, 25n * 10n ** 17n]);
});

Deno.test("attacker: a verifier cannot draw a step past the round's, which no honest record opens", async () => {
  // Prepare: a trained round. The old entry point took the verifier's own step count, so a
  // verifier naming 1,000,000 steps drew a padding leaf the node could not open (10% slashed).
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const [node] = job.nodes as [TestNode, TestNode];
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  const at = { addresses: fx.addresses, jobId: job.jobId, round: 0, nodePubkey: node.nodePubkey };
  const legacy = parseAbi([
    "function issueStepChallenge(bytes32 jobId, uint32 round, bytes32 nodePubkey, uint32 steps)",
  ]);
  const data = encodeFunctionData({
    abi: legacy,
    args: [job.jobId, 0, node.nodePubkey, 1_000_000],
  });

  // Execute: the verifier names its own step count; then draws through the chain's, 3 times (as
  // many challenges as one commit may get).
  const named = await fx.coordinator.call({ to: fx.addresses.verification, data })
    .then(() => "accepted", () => "refused");
  const drawn = [];
  for (let i = 0; i < 3; i++) drawn.push(await issueStepChallenge(fx.coordinator, at));
  const answered = await node.worker.answerChallenges();

  // Assert: no such entry point; every drawn step is the round's, and the node opens each.
  assert.equal(named, "refused");
  for (const c of drawn) assert.ok(c.step < job.spec.localSteps, `step ${c.step}`);
  assert.equal(answered, drawn.length);
  for (const c of drawn) {
    const got = await getChallenge(fx.coordinator, {
      addresses: fx.addresses,
      challengeId: c.challengeId,
    });
    assert.equal(got.status, ChallengeStatus.Answered);
  }
});

Deno.test("attacker: an outlier whose group's majority delivered late is still settled, and so not paid", async () => {
  // Found in the seventh audit: the coordinator settled only the groups whose delivered updates
  // agreed, and finalize waits for open cases, not for settlements; with its group's honest
  // majority committed but delivered after the close, a faker was never judged and was paid.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 6,
    rounds: 2,
    verification: { redundancy: 3, challengeRate: 0, sampleRate: 0 },
  });
  // Two groups of three: the first delivers in agreement (so the round closes); in the second
  // the faker and one honest member deliver, the other honest member only commits.
  const [first, late, faker] = job.nodes.slice(3) as [TestNode, TestNode, TestNode];
  faker.cheat.tamper = (r, task) => task.round === 0 ? noisy(r, task.global) : r;
  for (const n of job.nodes.slice(0, 3)) assert.equal(await n.worker.tick(), "trained");
  assert.equal(await first.worker.tick(), "trained");
  assert.equal(await faker.worker.tick(), "trained");
  await s.train(job, late); // commits the majority's result on chain, delivers nothing yet
  s.advance(job.spec.aggregation.deadlineMs);
  await s.post("/aggregate", { jobId: job.jobId });

  const stake = async (n: TestNode) =>
    (await fx.coordinator.readContract({
      address: fx.addresses.registry,
      abi: abis.registry,
      functionName: "getNode",
      args: [n.nodePubkey],
    })).stake;
  const settled = await fx.coordinator.getContractEvents({
    address: fx.addresses.verification,
    abi: abis.verification,
    eventName: "RedundancySettled",
    args: { jobId: job.jobId },
    fromBlock: 0n,
  });
  assert.deepEqual(settled.map((e) => e.args.group).sort(), [1, 2], "both groups were settled");
  assert.ok(await stake(faker) < await stake(first), "the faker lost half its stake");
  assert.equal(await stake(late), await stake(first));
});

Deno.test("attacker: a node that commits made-up digests to a job without a verification policy is still challenged for them", async () => {
  // Prepare: a job as `job submit` makes it, no verification policy; two nodes train and
  // deliver, the third commits made-up digests, delivers nothing and keeps heartbeating. Found
  // in the job owner audit: without a policy nobody was challenged, and such a node was paid its
  // full share of the owner's budget for no work (two of three took ~60% of it).
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 3, rounds: 2, quorum: 0.6 });
  assert.equal(job.spec.verification, undefined);
  const [a, b, lazy] = job.nodes as [TestNode, TestNode, TestNode];
  await commitMadeUp(fx, job, lazy);
  for (const n of [a, b]) assert.equal(await n.worker.tick(), "trained");

  // Execute: the round closes on the two delivered updates.
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;

  // Assert: the lazy commit is asked a chunk and a step, which it cannot open (the timeout zeroes
  // its pay on the job and slashes 10%); the nodes that delivered are not asked anything.
  assert.equal(closed.status, "closed");
  await assertLazyAsked(s, job, lazy);
});

Deno.test("attacker: a faker in a redundancy-2 group without a majority is challenged and its answer rejected", async () => {
  // Prepare: two groups of two and no challenge rate; the first group agrees, the second is an
  // honest node and a faker delivering a made-up update that opens against its own commit. Found
  // in the job owner audit: a group with no majority counted no update, and neither its members
  // (they delivered, so not "undelivered") nor anyone else was ever asked anything: the faker was
  // paid its full share, and no worker opens disputes.
  await using fx = await setupCoordinator({ operators: 4 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 4,
    rounds: 2,
    verification: { redundancy: 2, challengeRate: 0, sampleRate: 0 },
  });
  const groupOf = (n: TestNode) => job.record.taskOf[n.nodePubkey]!;
  const split = [...job.nodes].sort((a, b) => groupOf(a) - groupOf(b));
  const [honest, faker] = split.slice(2) as [TestNode, TestNode];
  assert.equal(groupOf(honest), groupOf(faker));
  faker.cheat.tamper = (r, task) => task.round === 0 ? noisy(r, task.global) : r;
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");

  // Execute: the round closes on the first group; the nodes answer; the window passes.
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  for (const n of job.nodes) await n.worker.answerChallenges();
  await fx.coordinator.request({ method: "evm_increaseTime" as never, params: [3601] as never });
  await fx.coordinator.request({ method: "evm_mine" as never, params: [] as never });
  await s.post("/aggregate", { jobId: job.jobId });

  // Assert: both members of the split group were asked a chunk and a step; the honest one
  // passed, the faker's update was found made up; the agreeing group was asked nothing.
  assert.equal(closed.status, "closed");
  const recs = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
  const asked = (n: TestNode) =>
    recs.filter((r) => r.nodePubkey === n.nodePubkey).map((r) => [r.kind, r.status]).sort();
  assert.deepEqual(asked(honest), [["challenge", "verified"], ["step", "verified"]]);
  assert.deepEqual(asked(faker), [["challenge", "penalised"], ["step", "penalised"]]);
  for (const n of split.slice(0, 2)) assert.deepEqual(asked(n), []);
});

Deno.test("attacker: a faker that splits a job's only task group does not stall the job", async () => {
  // Prepare: one task group of two, an honest node and a faker. Found in the job owner audit: with
  // no group holding a majority the round's closing set was recorded empty, and every close after
  // it threw "no valid update": the job stood still until its owner abandoned it a day later,
  // still paying for the round, the faker's commit included.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 2,
    rounds: 2,
    verification: { redundancy: 2, challengeRate: 0, sampleRate: 0 },
  });
  const [honest, faker] = job.nodes as [TestNode, TestNode];
  faker.cheat.tamper = (r, task) => task.round === 0 ? noisy(r, task.global) : r;
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");

  // Execute
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;

  // Assert: the round closed on the weights it opened with, and both members were challenged.
  assert.equal(closed.status, "closed", JSON.stringify(closed));
  assert.equal(closed.updates, 0);
  const rec = await s.jobRecord(job.jobId);
  assert.equal(rec.round, 1);
  const weights = async (cid: string) => decodeCheckpoint(await s.ctx.store.get(cid)).weights;
  assert.deepEqual(await weights(rec.globalCid), await weights(job.spec.initialWeights));
  const recs = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
  assert.deepEqual(
    [...new Set(recs.map((r) => r.nodePubkey))].sort(),
    [honest.nodePubkey, faker.nodePubkey].sort(),
  );
});

Deno.test("attacker: a node moved off a partition job's task that answers its challenge does not stop the job's rounds", async () => {
  // Found in the coordinator audit: a node that commits, goes silent until its task moves to a
  // spare, then answers the challenge of its undelivered commit had the answer recomputed at
  // slot -1 (its place no longer held a task), which the partition codec refuses; the throw came
  // out of every later POST /aggregate and /finalize of the job, before the close, so none of
  // its rounds closed again. Prepare: a 2-node partition job with a spare; Y commits and stays
  // silent; the honest node delivers; the spare takes Y's task and round 0 closes.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 2,
    spares: 1,
    rounds: 2,
    verification: { redundancy: 1, challengeRate: 0, sampleRate: 0 },
    compression: { codec: "partition", parts: 2 },
  });
  const [honest, y] = job.nodes as [TestNode, TestNode];
  const spare = job.spares[0]!;
  const mine = await s.train(job, honest);
  const silent = await s.train(job, y); // committed on chain, never posted
  await onlyLive(fx, [honest, spare]);
  s.advance(job.spec.aggregation.deadlineMs);
  const [extended] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(extended.status, "extended", JSON.stringify(extended));
  await s.post("/aggregate/update", envelopeToJson(mine.envelope));
  assert.equal(await spare.worker.tick(), "trained");
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(closed.status, "closed", JSON.stringify(closed));
  const challenged = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
  assert.ok(challenged.some((c) => c.nodePubkey === y.nodePubkey), "Y's commit is challenged");

  // Execute: Y wakes and answers (honestly: it kept what it committed); round 1 is trained.
  const responder = new ChallengeResponder(y.nodePubkey);
  const { lossDigest, gradientDigest, weightsDigest, stepRecords } = silent.result;
  responder.remember({
    jobId: job.jobId,
    round: 0,
    lossDigest,
    gradientDigest,
    weightsDigest,
    stepRecords,
    updateBytes: committedUpdateBytes(silent.result),
  });
  assert.ok(await responder.answer(y.operator, fx.addresses) > 0, "Y answered");
  await honest.worker.heartbeat(true);
  await spare.worker.heartbeat(true);
  assert.equal(await honest.worker.tick(), "trained");
  assert.equal(await spare.worker.tick(), "trained");
  const res = await read(await s.post("/aggregate", { jobId: job.jobId }));

  // Assert: round 1 closes, and Y's answer is judged at the slot it committed from.
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body[0].status, "closed", JSON.stringify(res.body));
  assert.equal(res.body[0].round, 1);
  const judged = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
  const ys = judged.filter((c) => c.nodePubkey === y.nodePubkey);
  assert.ok(ys.some((c) => c.status === "verified"), JSON.stringify(ys.map((c) => c.status)));
});

Deno.test("attacker: a lazy commit is still challenged when the close stops after advancing the job", async () => {
  // Found in the coordinator audit: a round's challenges were issued once, right after its close
  // advanced the job, and never again; a crash or one failed RPC call there left them unissued
  // for good, and a lazy node's made-up commit (the only check of a job without a policy) was
  // paid. Prepare: 3 nodes, one committing made-up digests; the RPC refuses every challenge the
  // first close sends.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const { job, lazy, res: failed } = await lazyRoundClosedWithoutChallenges(fx, s, { rounds: 2 });
  assert.equal((await s.jobRecord(job.jobId)).round, 1, "the close advanced the job");
  assert.equal(failed.status, 500, JSON.stringify(failed.body));
  assert.deepEqual(await listValues(s.ctx.kv, ["challenge", job.jobId]), []);

  // Execute: a later aggregate call (a cron's), past the close's own turn.
  s.advance(2 * 60_000);
  await s.post("/aggregate", { jobId: job.jobId });

  // Assert: the lazy commit is asked its chunk and step.
  await assertLazyAsked(s, job, lazy);
});

Deno.test("a job's event scans start at the block its start saw, not at block 0", async () => {
  // On a long public chain a scan from block 0 is thousands of capped log queries (the client
  // splits every one into 2,000-block parts): a challenge's answer, a committee's request and a
  // replacement were each read that way at every close. Prepare: every commit challenged; every
  // log query the coordinator sends is noted.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 2,
    rounds: 2,
    verification: { redundancy: 1, challengeRate: 1, sampleRate: 0 },
  });
  const from: bigint[] = [];
  const chain = s.ctx.chain;
  s.ctx.chain = {
    ...chain,
    client: new Proxy(chain.client, {
      get(target, key) {
        const value = Reflect.get(target, key);
        if (key !== "getContractEvents" && key !== "getLogs") return value;
        return (request: { fromBlock?: bigint; blockHash?: string }) => {
          if (!request.blockHash) from.push(request.fromBlock ?? 0n); // one block's: no scan
          return (value as (r: unknown) => Promise<unknown>)(request);
        };
      },
    }),
  };

  // Execute: a round closes and is challenged; the answers come and are judged.
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  await s.post("/aggregate", { jobId: job.jobId });
  for (const n of job.nodes) await n.worker.answerChallenges();
  await s.post("/aggregate", { jobId: job.jobId });

  // Assert: the scans happened, none from before the job's start.
  const start = BigInt(job.record.startBlock!);
  assert.ok(start > 0n && from.length > 0, `${from.length} scans from block ${start}`);
  assert.deepEqual(from.filter((b) => b < start), []);
  const recs = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
  assert.deepEqual(recs.map((r) => r.status), Array(4).fill("verified"));
});

/** A chain client whose every transaction to VerificationManager fails, as a lost RPC would. */
function refusingChallenges(s: Scenario, fx: Coordinator) {
  const chain = s.ctx.chain;
  const verification = fx.addresses.verification!.toLowerCase();
  const client = new Proxy(chain.client, {
    get(target, key) {
      if (key !== "prepareTransactionRequest") return Reflect.get(target, key);
      return (request: { to?: string }) =>
        request.to?.toLowerCase() === verification
          ? Promise.reject(new Error("the RPC went away"))
          : target.prepareTransactionRequest(request as never);
    },
  });
  return { ...chain, client };
}

/** The challenges of `job` are a chunk and a step of `lazy`'s round-0 commit, and nothing else. */
async function assertLazyAsked(s: Scenario, job: TestJob, lazy: TestNode): Promise<void> {
  const recs = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
  assert.deepEqual(recs.map((r) => [r.nodePubkey, r.round, r.kind]), [
    [lazy.nodePubkey, 0, "challenge"],
    [lazy.nodePubkey, 0, "step"],
  ]);
}

/**
 * A 3-node job (quorum 0.6) whose third node commits made-up digests to round 0 and delivers
 * nothing; the two others deliver; then the round's close runs on an RPC that refuses every
 * challenge (`onlyLiveFirst`: only the two and the spares heartbeat, so the lazy one is moved).
 */
async function lazyRoundClosedWithoutChallenges(
  fx: Coordinator,
  s: Scenario,
  o: { rounds: number; spares?: number; onlyLiveFirst?: boolean },
): Promise<{ job: TestJob; lazy: TestNode; res: { status: number; body: unknown } }> {
  const job = await s.job({ nodes: 3, spares: o.spares, rounds: o.rounds, quorum: 0.6 });
  const [a, b, lazy] = job.nodes as [TestNode, TestNode, TestNode];
  await commitMadeUp(fx, job, lazy);
  for (const n of [a, b]) assert.equal(await n.worker.tick(), "trained");
  if (o.onlyLiveFirst) await onlyLive(fx, [a, b, ...job.spares]);
  const chain = s.ctx.chain;
  s.ctx.chain = refusingChallenges(s, fx);
  const res = await read(await s.post("/aggregate", { jobId: job.jobId }));
  s.ctx.chain = chain;
  return { job, lazy, res };
}

/** `node` commits made-up digests to round 0 of `job` (it trains and delivers nothing). */
async function commitMadeUp(fx: Coordinator, job: TestJob, node: TestNode): Promise<void> {
  const made = (tag: string) => `0x${tag.repeat(32)}` as const;
  await commitRound(node.operator, {
    addresses: fx.addresses,
    commit: {
      jobId: job.jobId,
      round: 0,
      nodePubkey: node.nodePubkey,
      lossDigest: made("11"),
      gradientDigest: made("22"),
      weightsDigest: made("33"),
      proofsRoot: made("44"),
    },
  });
}

Deno.test("attacker: a lazy node moved off at the close is still challenged when the close stops", async () => {
  // Found reviewing the owed challenges: issued again after a stopped close, they were drawn
  // from the job's assignment of the next round, without the nodes moved to spares at the close;
  // a lazy node that committed and went silent until it was replaced escaped its challenge.
  // Prepare: a lazy node commits made-up digests and goes silent; a spare waits; the RPC refuses
  // every challenge the close sends.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const { job, lazy } = await lazyRoundClosedWithoutChallenges(fx, s, {
    rounds: 2,
    spares: 1,
    onlyLiveFirst: true,
  });
  const moved = await s.jobRecord(job.jobId);
  assert.equal(moved.round, 1);
  assert.ok(!moved.assigned.includes(lazy.nodePubkey), "the lazy node was moved to the spare");

  // Execute: a later aggregate call.
  s.advance(2 * 60_000);
  await s.post("/aggregate", { jobId: job.jobId });

  // Assert: the lazy commit is asked its chunk and step.
  await assertLazyAsked(s, job, lazy);
});

Deno.test("attacker: finalize does not settle a job whose last close stopped before its challenges", async () => {
  // Found reviewing the owed challenges: a stopped last close left its challenges to a follow-up
  // a minute on, and a finalize before it settled with the lazy commit unasked (the chain cannot
  // wait for challenges it never saw). Prepare: a one-round job under an hour's settlement delay,
  // a lazy node; the RPC refuses every challenge the last close sends.
  await using fx = await setupCoordinator({ operators: 3, settlementDelay: 3600 });
  const s = await fx.scenario();
  const { job, lazy } = await lazyRoundClosedWithoutChallenges(fx, s, { rounds: 1 });
  assert.equal((await s.jobRecord(job.jobId)).status, "completed");

  // Execute: finalize at once, then a minute on (still inside the settlement delay).
  const early = await read(await s.post("/finalize", { jobId: job.jobId }));
  s.advance(2 * 60_000);
  const later = await read(await s.post("/finalize", { jobId: job.jobId }));

  // Assert: refused while owed; the follow-up then asks the lazy commit, and settlement waits.
  assert.equal(early.status, 409, JSON.stringify(early.body));
  assert.equal(early.body.error.code, "CHALLENGES_OWED");
  assert.notEqual(later.status, 200, JSON.stringify(later.body));
  await assertLazyAsked(s, job, lazy);
});

Deno.test("victim of a dead sender: a challenge claimed by a sender that died is sent once its claim is old", async () => {
  // Found reviewing the claims: a follow-up skipped a challenge another sender had claimed, then
  // deleted the round's marker; a sender that died between its claim and its transaction left
  // the challenge to nobody, and the lazy commit unasked. Prepare: a lazy node's round closes
  // with every challenge refused; then its chunk challenge is claimed by a sender that dies.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const { job, lazy } = await lazyRoundClosedWithoutChallenges(fx, s, { rounds: 2 });
  const claimed = ["challenge_asked", job.jobId.toLowerCase(), 0, lazy.nodePubkey, "challenge"];
  await s.ctx.kv.set(claimed, { sending: s.ctx.now() });
  const kinds = async () =>
    (await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId])).map((r) => r.kind);

  // Execute: a follow-up a few minutes on, and another once the claim is old.
  s.advance(2 * 60_000);
  await s.post("/aggregate", { jobId: job.jobId });
  const meanwhile = await kinds();
  s.advance(11 * 60_000);
  await s.post("/aggregate", { jobId: job.jobId });

  // Assert: the step first (the chunk still claimed), then the chunk, taken over.
  assert.deepEqual(meanwhile, ["step"]);
  assert.deepEqual((await kinds()).sort(), ["challenge", "step"]);
});

Deno.test("victim: a challenge whose answer was lost is not asked a second time", async () => {
  // Found in the chain audit: a challenge the node took but whose answer was lost failed its
  // send, its claim was dropped as "not sent", and a later run asked the commit again: two of
  // the chain's three challenges a commit spent on one kind, the gradient sample then refused.
  // Prepare: a lazy node's round closes on an RPC that takes every challenge and loses its answer.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 3, rounds: 2, quorum: 0.6 });
  const [a, b, lazy] = job.nodes as [TestNode, TestNode, TestNode];
  await commitMadeUp(fx, job, lazy);
  for (const n of [a, b]) assert.equal(await n.worker.tick(), "trained");
  const chain = s.ctx.chain;
  s.ctx.chain = losingAnswers(chain, fx.addresses.verification!).chain;
  await s.post("/aggregate", { jobId: job.jobId });
  s.ctx.chain = chain;

  // Execute: follow-ups past the owed challenges' wait and the claims' age.
  for (const minutes of [2, 11, 11]) {
    s.advance(minutes * 60_000);
    await s.post("/aggregate", { jobId: job.jobId });
  }

  // Assert: one chunk challenge and one step challenge of the commit on chain, each recorded.
  const issued = await fx.coordinator.getContractEvents({
    address: fx.addresses.verification!,
    abi: abis.verification,
    eventName: "ChallengeIssued",
    fromBlock: 0n,
  });
  const ofLazy = issued.filter((e) => e.args.nodePubkey?.toLowerCase() === lazy.nodePubkey);
  assert.equal(ofLazy.length, 2, JSON.stringify(ofLazy.map((e) => e.args.count?.toString())));
  await assertLazyAsked(s, job, lazy);
});

Deno.test("victim: owed challenges the chain can no longer take do not hold finalize for ever", async () => {
  // Found reviewing the claims: a marker kept for a claim whose sender died could never be
  // settled once the chain opened no case on the job (its settlement due), and finalize answered
  // 409 CHALLENGES_OWED for ever, the nodes unpaid. Prepare: a finished job under no settlement
  // delay, with such a marker and a fresh claim left behind.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1 });
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  assert.equal(
    (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0].status,
    "closed",
  );
  const id = job.jobId.toLowerCase();
  await s.ctx.kv.set(["challenge_pending", id, 0], { globalCid: job.spec.initialWeights, at: 0 });
  await s.ctx.kv.set(["challenge_asked", id, 0, job.nodes[0]!.nodePubkey, "challenge"], {
    sending: s.ctx.now(),
  });

  // Execute
  const fin = await read(await s.post("/finalize", { jobId: job.jobId }));

  // Assert: settled, and nothing is owed any more.
  assert.equal(fin.status, 200, JSON.stringify(fin.body));
  assert.deepEqual(await listValues(s.ctx.kv, ["challenge_pending", id]), []);
});
