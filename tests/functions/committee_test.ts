/**
 * Validator committees end to end: a spot-checked round (forced with setSpotCheckBps) draws a
 * committee of the job's nodes; each member gets validation tasks from GET /assign, recomputes
 * the other nodes' rounds with the kernel and attests on chain; the next aggregate call settles
 * every target. One node fakes its update, one validator lies about every target.
 */
import assert from "node:assert/strict";
import type { Hex } from "viem";
import { abis, SlashReason } from "../../lib/chain/contracts.ts";
import { commitRound } from "../../lib/chain/commit_round.ts";
import { attestResult } from "../../lib/chain/attest_result.ts";
import { f32Bytes, type LocalResult } from "../../lib/round/local_training.ts";
import { merkleRoot } from "../../lib/crypto/merkle.ts";
import { AttestationOutcome } from "../../lib/verify/committee_chain.ts";
import { taskFor } from "../../lib/coordinator/tasks.ts";
import { listValues } from "../../lib/coordinator/state.ts";
import {
  committeeCandidates,
  type CommitteeRecord,
  MAX_COMMITTEE_CANDIDATES,
} from "../../lib/coordinator/committees.ts";
import { read, setupCoordinator, spotCheckedJob, type TestNode } from "./_coordinator.ts";

/** A result whose update is noise: committed consistently, but not the training. */
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

const LIE: Hex = `0x${"ab".repeat(32)}`;

// The partition codec keeps no residual, so committees recompute its rounds like fp32 ones.
for (const compression of [undefined, { codec: "partition" as const, parts: 4 }]) {
  const codec = compression ? ` (${compression.codec} codec)` : "";
  Deno.test(`a validator committee attests a spot-checked round and slashes the faker${codec}`, async (t) => {
    await using fx = await setupCoordinator({ operators: 4 });
    const { s, job } = await spotCheckedJob(fx, compression);
    const [honest, faker, liar, other] = job.nodes as [TestNode, TestNode, TestNode, TestNode];
    faker.cheat.tamper = (r, task) => task.round === 0 ? noisy(r, task.global) : r;
    liar.cheat.attest = () => LIE;
    const slashes = async (node: Hex) =>
      (await fx.coordinator.getContractEvents({
        address: fx.addresses.registry,
        abi: abis.registry,
        eventName: "NodeSlashed",
        args: { nodePubkey: node },
        fromBlock: 0n,
      })).map((e) => [e.args.reason, e.args.amount]);
    const outcomeOf = (node: Hex) =>
      fx.coordinator.readContract({
        address: fx.addresses.verification,
        abi: abis.verification,
        functionName: "outcomeOf",
        args: [job.jobId, 0, node],
      });

    await t.step("closing a spot-checked round draws a committee of the job's nodes", async () => {
      for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
      const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
      assert.equal(out.status, "closed");
      const [rec] = await listValues<CommitteeRecord>(s.ctx.kv, ["committee", job.jobId]);
      assert.equal(rec!.round, 0);
      assert.deepEqual([...rec!.members].sort(), job.nodes.map((n) => n.nodePubkey).sort());
      assert.equal(rec!.targets.length, 4);
      const task = await taskFor(s.ctx, honest.nodePubkey);
      assert.equal(task.status, "validate");
      if (task.status === "validate") {
        assert.equal(task.round, 0);
        assert.equal(task.checkpointCid, job.spec.initialWeights);
        assert.notEqual(task.target, honest.nodePubkey);
      }
    });

    await t.step("each member recomputes and attests the other three, then trains", async () => {
      for (const n of job.nodes) {
        for (let i = 0; i < 3; i++) assert.equal(await n.worker.tick(), "validated");
        assert.equal(await n.worker.tick(), "trained");
      }
      const attested = await fx.coordinator.getContractEvents({
        address: fx.addresses.verification,
        abi: abis.verification,
        eventName: "Attested",
        fromBlock: 0n,
      });
      assert.equal(attested.filter((e) => e.args.recomputedResultHash === LIE).length, 3);
      assert.equal(attested.length, 12);
    });

    await t.step(
      "the next aggregate settles: the faker loses 50%, honest nodes nothing",
      async () => {
        await s.post("/aggregate", { jobId: job.jobId });
        assert.equal(await outcomeOf(faker.nodePubkey), AttestationOutcome.Faked);
        for (const n of [honest, liar, other]) {
          assert.equal(await outcomeOf(n.nodePubkey), AttestationOutcome.Honest);
          assert.deepEqual(await slashes(n.nodePubkey), [], "an honest target is never slashed");
        }
        const [fake] = await slashes(faker.nodePubkey);
        assert.equal(fake![0], SlashReason.FakeGradients);
        assert.equal(fake![1], 5n * 10n ** 18n, "50% of the 10 ARTH stake");
        const settled = await fx.coordinator.getContractEvents({
          address: fx.addresses.verification,
          abi: abis.verification,
          eventName: "AttestationsSettled",
          args: { targetNode: honest.nodePubkey },
          fromBlock: 0n,
        });
        // The liar's attestation is outvoted: two of the three eligible members agree.
        assert.equal(settled[0]!.args.agreeing, 2n);
        assert.equal(settled[0]!.args.eligible, 3n);
        const [rec] = await listValues<CommitteeRecord>(s.ctx.kv, ["committee", job.jobId]);
        assert.equal(rec!.settled.length, 4);
      },
    );
  });
}

Deno.test("attacker: a committee member's attestation of a node outside the committee's targets is still settled, so it cannot hold the job's settlement", async () => {
  // Prepare: a spot-checked round where one node committed without delivering (so it is not
  // among the committee's targets, the round's counted nodes); settlement waits for every
  // attested target.
  await using fx = await setupCoordinator({ operators: 4 });
  const { s, job } = await spotCheckedJob(fx);
  const [a, b, member, silent] = job.nodes as [TestNode, TestNode, TestNode, TestNode];
  for (const n of [a, b, member]) assert.equal(await n.worker.tick(), "trained");
  await commitRound(silent.operator, {
    addresses: fx.addresses,
    commit: {
      jobId: job.jobId,
      round: 0,
      nodePubkey: silent.nodePubkey,
      lossDigest: LIE,
      gradientDigest: LIE,
      weightsDigest: LIE,
      proofsRoot: LIE,
    },
  });
  s.advance(job.spec.aggregation.deadlineMs);
  assert.equal(
    (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0].status,
    "closed",
  );
  const [rec] = await listValues<CommitteeRecord>(s.ctx.kv, ["committee", job.jobId]);
  assert.ok(!rec!.targets.includes(silent.nodePubkey));

  // Execute: a member attests the silent node (from its own account, not through the
  // coordinator's tasks); the attestation window runs out; the coordinator's next call.
  await attestResult(member.operator, {
    addresses: fx.addresses,
    jobId: job.jobId,
    round: 0,
    validatorNode: member.nodePubkey,
    targetNode: silent.nodePubkey,
    resultHash: LIE,
  });
  const now = Number((await fx.coordinator.getBlock()).timestamp);
  await fx.coordinator.request({
    method: "evm_increaseTime" as never,
    params: [Number(rec!.deadline) - now + 1] as never,
  });
  await fx.coordinator.request({ method: "evm_mine" as never, params: [] as never });
  await s.post("/aggregate", { jobId: job.jobId });

  // Assert: the silent node's attestations are settled (undecided: one member of the eligible
  // three), so no case of the committee is left open on chain.
  const settled = await fx.coordinator.getContractEvents({
    address: fx.addresses.verification,
    abi: abis.verification,
    eventName: "AttestationsSettled",
    args: { targetNode: silent.nodePubkey },
    fromBlock: 0n,
  });
  assert.equal(settled.length, 1);
  const [after] = await listValues<CommitteeRecord>(s.ctx.kv, ["committee", job.jobId]);
  assert.ok(after!.settled.includes(silent.nodePubkey));
});

Deno.test("no committee is drawn for a job's last round once its settlement is due (settlementDelay 0): its members would recompute a round whose attestations the chain refuses", async () => {
  // Prepare: both rounds spot-checked; the fixture's deployment settles at once.
  await using fx = await setupCoordinator({ operators: 4 });
  const { s, job } = await spotCheckedJob(fx);
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  await s.post("/aggregate", { jobId: job.jobId });
  for (const n of job.nodes) {
    for (let i = 0; i < 3; i++) assert.equal(await n.worker.tick(), "validated");
    assert.equal(await n.worker.tick(), "trained");
  }

  // Execute: the last round closes.
  const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(out.status, "closed");

  // Assert: round 0's committee only, on chain and in KV; no member is handed a validation.
  const drawn = await fx.coordinator.getContractEvents({
    address: fx.addresses.verification,
    abi: abis.verification,
    eventName: "CommitteeDrawn",
    fromBlock: 0n,
  });
  assert.deepEqual(drawn.map((e) => e.args.round), [0]);
  const recs = await listValues<CommitteeRecord>(s.ctx.kv, ["committee", job.jobId]);
  assert.deepEqual(recs.map((r) => r.round), [0]);
  for (const n of job.nodes) {
    assert.notEqual((await taskFor(s.ctx, n.nodePubkey)).status, "validate");
  }
});

Deno.test("attacker: a job too large for one committee request still asks one of at most 128 candidates", () => {
  // Found in the contract audit: the request checked every candidate pairwise and read each
  // one's stake and reputation (300: 11M gas; 600: past a block's 30M), and the coordinator named
  // every assigned node, so no job of ~450 nodes or more was ever spot-checked by a committee.
  const jobId = `0x${"01".repeat(32)}` as const;
  const nodes = Array.from(
    { length: 1000 },
    (_, i) => `0x${(i + 1).toString(16).padStart(64, "0")}` as const,
  );
  const picked = committeeCandidates(jobId, 3, nodes);
  assert.equal(picked.length, MAX_COMMITTEE_CANDIDATES);
  assert.equal(new Set(picked).size, picked.length);
  assert.ok(picked.every((n) => nodes.includes(n)));
  assert.deepEqual(
    committeeCandidates(jobId, 3, [...nodes].reverse()),
    picked,
    "the same on every run",
  );
  assert.notDeepEqual(committeeCandidates(jobId, 4, nodes), picked, "another round, others");
  assert.deepEqual(committeeCandidates(jobId, 3, nodes.slice(0, 5)), nodes.slice(0, 5));
});
