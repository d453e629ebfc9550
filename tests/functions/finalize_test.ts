import assert from "node:assert/strict";
import { abis, JobStatus } from "../../lib/chain/contracts.ts";
import { finalizeJob } from "../../lib/chain/finalize_job.ts";
import { reportAccuracy } from "../../lib/chain/close_round.ts";
import { getJobSettlement } from "../../lib/chain/get_job_settlement.ts";
import { sendContract } from "../../lib/chain/send_contract.ts";
import type { JobRecord } from "../../lib/coordinator/state.ts";
import { improvementBps } from "../../lib/coordinator/finalize.ts";
import type { Hex } from "viem";
import {
  type Coordinator,
  read,
  type Scenario,
  setupCoordinator,
  type TestJob,
} from "./_coordinator.ts";

/** A one-round job with `nodes` nodes, trained and closed. */
async function completedJob(s: Scenario, nodes = 2): Promise<TestJob> {
  const job = await s.job({ nodes, rounds: 1 });
  await s.deliver(job, job.nodes);
  const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(out.status, "closed");
  return job;
}

Deno.test("finalize", async (t) => {
  await using fx = await setupCoordinator();

  await t.step("improvementBps is the relative validation gain, clamped to [0, 10000]", () => {
    const job = { initialValLoss: 5, metrics: [{ valLoss: 4 }] } as JobRecord;
    assert.equal(improvementBps(job), 2_000);
    assert.equal(improvementBps({ ...job, metrics: [] }), 0);
    assert.equal(improvementBps({ ...job, metrics: [{ valLoss: 6 }] } as JobRecord), 0);
    assert.equal(improvementBps({ ...job, metrics: [{ valLoss: 0 }] } as JobRecord), 10_000);
  });

  await t.step("settles a completed job on chain, pays the nodes, refunds the rest", async () => {
    const s = await fx.scenario();
    const job = await completedJob(s);
    const res = await read(await s.post("/finalize", { jobId: job.jobId }));
    assert.equal(res.status, 200);
    const rec: JobRecord = res.body[0];
    assert.equal(rec.status, "finalized");
    assert.match(rec.finalize!.txHash, /^0x[0-9a-f]{64}$/);
    assert.ok(BigInt(rec.finalize!.paid) > 0n);
    assert.ok(BigInt(rec.finalize!.refund) > 0n);
    assert.equal(BigInt(rec.finalize!.paid) + BigInt(rec.finalize!.refund), 10n ** 19n);
    assert.equal(rec.finalize!.improvementBps, improvementBps(rec));
    assert.equal((await fx.chainJob(job.jobId)).status, JobStatus.Finalized);
    assert.deepEqual(JSON.parse(JSON.stringify(await s.jobRecord(job.jobId))), rec);

    const again = await read(await s.post("/finalize", { jobId: job.jobId }));
    assert.equal(again.status, 200);
    assert.deepEqual(again.body[0], rec, "a second finalize returns the same record");
  });

  await t.step(
    "POST without a body finalizes every completed job and skips running ones",
    async () => {
      const s = await fx.scenario();
      const done = await completedJob(s, 1);
      const running = await s.job({ nodes: 1, rounds: 2 });
      const res = await read(await s.call("/finalize", { method: "POST" }));
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.map((j: JobRecord) => j.jobId), [done.record.jobId]);
      assert.equal((await s.jobRecord(running.jobId)).status, "running");
    },
  );

  await t.step("a restart after the chain settled records what the chain paid", async () => {
    const s = await fx.scenario();
    const job = await completedJob(s, 1);
    // The previous run settled on chain, then crashed before its KV write.
    await reportAccuracy(fx.coordinator, {
      addresses: fx.addresses,
      jobId: job.jobId,
      improvementBps: 1,
    });
    const fin = await finalizeJob(fx.coordinator, { addresses: fx.addresses, jobId: job.jobId });
    const paid = fin.rewards.reduce((sum, r) => sum + r.total, 0n);
    const res = await read(await s.post("/finalize", { jobId: job.jobId }));
    assert.equal(res.status, 200);
    assert.equal(res.body[0].status, "finalized");
    assert.equal(res.body[0].finalize.paid, paid.toString());
    assert.equal(res.body[0].finalize.refund, fin.refund.toString());
    assert.equal(res.body[0].finalize.txHash, fin.hash);
    assert.equal(res.body[0].finalize.improvementBps, 1, "the improvement the chain recorded");
  });

  await t.step(
    "a crash between finalize batches: the rest is settled and all is counted",
    async () => {
      const s = await fx.scenario();
      const job = await completedJob(s, 3);
      const { addresses } = fx;
      await reportAccuracy(fx.coordinator, { addresses, jobId: job.jobId, improvementBps: 0 });
      // One batch of one node went through before the crash.
      await sendContract(fx.coordinator, {
        address: addresses.proofs,
        abi: abis.proofs,
        functionName: "finalizeBatch",
        args: [job.jobId, 1n],
      });
      const res = await read(await s.post("/finalize", { jobId: job.jobId }));
      assert.equal(res.status, 200);
      const rec = res.body[0];
      assert.equal(BigInt(rec.finalize.paid) + BigInt(rec.finalize.refund), 10n ** 19n);
      const onChain = await getJobSettlement(fx.coordinator, { addresses, jobId: job.jobId });
      assert.equal(onChain!.rewards.length, 3, "every node was credited once");
      assert.equal(
        rec.finalize.paid,
        onChain!.rewards.reduce((a, r) => a + r.total, 0n).toString(),
      );
    },
  );

  await t.step("a running job is a 409, an unknown job a 404", async () => {
    const s = await fx.scenario();
    const job = await s.job({ nodes: 1, rounds: 2 });
    const running = await read(await s.post("/finalize", { jobId: job.jobId }));
    assert.equal(running.status, 409);
    assert.match(running.body.error.message, /running \(round 0 of 2\)/);
    const unknown = await read(await s.post("/finalize", { jobId: `0x${"99".repeat(32)}` }));
    assert.equal(unknown.status, 404);
  });

  await t.step("bad bodies are 4xx naming the field; other methods 405", async () => {
    const s = await fx.scenario();
    const bad = await read(await s.post("/finalize", { jobId: "0x1" }));
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /"jobId"/);
    assert.equal((await read(await s.post("/finalize", "{x"))).status, 400);
    const type = await read(
      await s.call("/finalize", {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: "{}",
      }),
    );
    assert.equal(type.status, 415);
    assert.equal((await read(await s.call("/finalize"))).status, 405);
  });
});

Deno.test("a job its owner abandoned while the coordinator was silent: KV follows the chain", async () => {
  // Before, the coordinator read the close's WrongStatus as "already closed", applied the open
  // round in KV and went on with rounds the chain no longer had.
  await using fx = await setupCoordinator();
  const { s, job, afterRound0 } = await abandonedAfterRound0(fx, 3);
  const closedCid = afterRound0.globalCid;

  const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(out.status, "idle");
  assert.match(out.reason, /abandoned/);
  const rec = await s.jobRecord(job.jobId);
  assert.equal(rec.status, "completed");
  assert.equal(rec.round, 1, "the open round was not applied");
  assert.equal(rec.globalCid, closedCid);

  const res = await read(await s.post("/finalize", { jobId: job.jobId }));
  assert.equal(res.status, 200);
  assert.equal(res.body[0].status, "finalized");
  assert.equal((await fx.chainJob(job.jobId)).status, JobStatus.Finalized);
  const settled = await getJobSettlement(fx.owner, { addresses: fx.addresses, jobId: job.jobId });
  assert.ok(settled!.rewards.every((r) => r.total > 0n), "both nodes paid for their rounds");
});

Deno.test("attacker: a last round abandoned on chain reports no improvement of its unclosed checkpoint", async () => {
  // Found in the job owner audit: the last close reported the job's improvement before closing
  // on chain, so after its owner abandoned the job in that round, a coordinator coming back
  // unlocked the accuracy bonus with weights the chain never recorded and the owner never got.
  await using fx = await setupCoordinator();
  const { s, job, afterRound0 } = await abandonedAfterRound0(fx, 2); // round 1 is the last
  // Round 0 met the target: its close reported that (the bonus of an abandoned job rests on it).
  const round0 = improvementBps(afterRound0);

  // Execute: the coordinator comes back and tries to close the last round.
  const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;

  // Assert: refused as abandoned, and nothing was reported for the round the chain never closed.
  assert.match(out.reason, /abandoned/);
  assert.deepEqual(await accuracyReports(fx, job.jobId), [round0]);
});

Deno.test("attacker: a job owner that settles first no longer keeps the nodes' accuracy bonus", async () => {
  // Before, the coordinator reported the improvement only in its own finalize: once the delay was
  // over, the owner (anyone) could settle first, the bonus pool went unpaid, and it came back to
  // the owner as refund. The last close now reports it before completing the job.
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1 });
  await s.deliver(job, job.nodes);
  const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(out.status, "closed");
  const rec = await s.jobRecord(job.jobId);
  assert.ok(improvementBps(rec) >= 100, "the job met its 1% target");

  // The fixture's settlement delay is 0: the owner settles before the coordinator's finalize.
  const settled = await finalizeJob(fx.owner, { addresses: fx.addresses, jobId: job.jobId });
  assert.equal(settled.rewards.length, 2);
  assert.ok(settled.rewards.every((r) => r.accuracyBonus > 0n), "every node got its bonus");
});

Deno.test("victim: the nodes of a job abandoned after rounds that met its target get the accuracy bonus", async () => {
  // Found in the second contracts audit: the improvement was reported only before the last close,
  // so a job abandoned after earlier rounds that met the target settled with nothing reported,
  // and the nodes' accuracy pool (10% of the budget kept) went back to the owner.
  await using fx = await setupCoordinator();
  const { job, afterRound0 } = await abandonedAfterRound0(fx, 3);
  assert.ok(improvementBps(afterRound0) >= 100, "round 0 met the 1% target");

  // Execute: the owner settles first (the fixture's settlement delay is 0).
  const settled = await finalizeJob(fx.owner, { addresses: fx.addresses, jobId: job.jobId });

  // Assert: every node got its bonus; one report, at the close that crossed the target.
  assert.equal(settled.rewards.length, 2);
  assert.ok(settled.rewards.every((r) => r.accuracyBonus > 0n), "every node got its bonus");
  assert.equal((await accuracyReports(fx, job.jobId)).length, 1);
});

/**
 * A 2-node job of `rounds` rounds whose round 0 closed and whose round 1 was delivered and
 * committed; the coordinator then stays silent past the stall window and the owner abandons it.
 * With the job's record after round 0.
 */
async function abandonedAfterRound0(fx: Coordinator, rounds: number) {
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds });
  await s.deliver(job, job.nodes);
  const [first] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(first.status, "closed");
  const afterRound0 = await s.jobRecord(job.jobId);
  await s.deliver(job, job.nodes);
  await abandonWhenStalled(fx, job.jobId);
  return { s, job, afterRound0 };
}

/** The improvements reported on chain for `jobId` (AccuracyReported), in order. */
async function accuracyReports(fx: Coordinator, jobId: Hex): Promise<number[]> {
  const reported = await fx.owner.getContractEvents({
    address: fx.addresses.jobs,
    abi: abis.jobs,
    eventName: "AccuracyReported",
    args: { jobId },
    fromBlock: 0n,
  });
  return reported.map((e) => e.args.improvementBps!);
}

/** The stall window passes on chain and the job's owner abandons it. */
async function abandonWhenStalled(fx: Coordinator, jobId: Hex): Promise<void> {
  const jobs = { address: fx.addresses.jobs, abi: abis.jobs } as const;
  const at = await fx.owner.readContract({ ...jobs, functionName: "stalledAt", args: [jobId] });
  const now = (await fx.owner.getBlock()).timestamp;
  await fx.coordinator.request({
    method: "evm_increaseTime" as never,
    params: [Number(at - now) + 1] as never,
  });
  await sendContract(fx.owner, { ...jobs, functionName: "abandonJob", args: [jobId] });
}

Deno.test("attacker: POST /finalize during the settlement delay spends none of the coordinator's gas", async () => {
  // Found in the inference audit: each POST /finalize inside the delay sent a reportAccuracy
  // transaction (paid by the coordinator), then was refused 409 SETTLEMENT_DELAY; anyone
  // repeating it drained the account that closes rounds and issues challenges.
  // Prepare: a completed job (its improvement reported by its last close) inside an hour's delay.
  await using fx = await setupCoordinator({ settlementDelay: 3600 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 1, rounds: 1 });
  await s.deliver(job, job.nodes);
  assert.equal(
    (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0].status,
    "closed",
  );
  const address = fx.coordinator.account.address;
  const nonce = await fx.coordinator.getTransactionCount({ address });

  // Execute: five calls for the job, one for every completed job.
  const answers = [];
  for (let i = 0; i < 5; i++) {
    answers.push(await read(await s.post("/finalize", { jobId: job.jobId })));
  }
  await read(await s.call("/finalize", { method: "POST" }));

  // Assert: each refused with the delay's end, and no transaction sent.
  for (const a of answers) {
    assert.equal(a.body.error?.code, "SETTLEMENT_DELAY", JSON.stringify(a.body));
  }
  assert.equal(await fx.coordinator.getTransactionCount({ address }), nonce);
});
