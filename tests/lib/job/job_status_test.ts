/**
 * `job status` against a coordinator that lies (lib/job/job_status.ts `disagreements`): the view
 * it answers is checked against what the chain records of the job. Rounds the chain never
 * closed, a settlement or an improvement it never saw, another checkpoint or another job are
 * named; an honest view agrees, also while the chain is a step ahead of the coordinator's record.
 */
import assert from "node:assert/strict";
import { parseEther } from "viem";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../../../lib/chain/client.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { JobStatus } from "../../../lib/chain/contracts.ts";
import { submitTrain } from "../../../lib/chain/submit_train.ts";
import { assignNodes } from "../../../lib/chain/assign_nodes.ts";
import { commitRound } from "../../../lib/chain/commit_round.ts";
import { closeRound } from "../../../lib/chain/close_round.ts";
import {
  chainFacts,
  type ChainJobFacts,
  describeJob,
  disagreements,
  type JobView,
} from "../../../lib/job/job_status.ts";
import { b32, devnetJobTerms, registerDevnetNode } from "../chain/_devnet_job.ts";

const JOB = b32("ab");
const metric = (round: number) => ({ round, valLoss: 5 - round, updates: 2, bytes: 100 });

/** An honest view of a 3-round job with `closed` rounds closed. */
function view(closed: number, extra: Partial<JobView> = {}): JobView {
  return {
    jobId: JOB,
    status: "running",
    round: closed,
    rounds: 3,
    assigned: ["0x1", "0x2"],
    initialValLoss: 5.5,
    metrics: Array.from({ length: closed }, (_, r) => metric(r)),
    globalCid: `cp-${closed - 1}`,
    specCid: "spec",
    ...extra,
  };
}

Deno.test("job status: what the coordinator claims beyond the chain is named", async (t) => {
  const running: ChainJobFacts = {
    status: JobStatus.Running,
    currentRound: 1,
    latestCheckpointCid: "cp-0",
    achievedImprovementBps: 0,
  };
  const finalized: ChainJobFacts = {
    status: JobStatus.Finalized,
    currentRound: 3,
    latestCheckpointCid: "cp-2",
    achievedImprovementBps: 1200,
    settlement: { paid: parseEther("7"), refund: parseEther("3") },
  };
  const settledView = view(3, {
    status: "finalized",
    finalize: {
      paid: String(parseEther("7")),
      refund: String(parseEther("3")),
      improvementBps: 1200,
    },
  });

  await t.step("an honest view agrees, also one a step behind the chain", () => {
    assert.deepEqual(disagreements(view(1), running), []);
    assert.deepEqual(disagreements(view(0), running), [], "the close is on chain, not yet in KV");
    assert.deepEqual(disagreements(settledView, finalized), []);
    assert.deepEqual(
      disagreements(view(3, { status: "completed" }), finalized),
      [],
      "settled on chain, not yet recorded",
    );
  });

  await t.step("rounds, state, checkpoint, payments and improvement the chain never saw", () => {
    assert.match(disagreements(view(2), running).join(), /2 rounds closed, the chain 1/);
    assert.match(
      disagreements(view(1, { status: "completed" }), running).join(),
      /completed, the chain has it running/,
    );
    assert.match(
      disagreements(view(1, { globalCid: "cp-fake" }), running).join(),
      /cp-fake is not cp-0/,
    );
    assert.match(
      disagreements({ ...settledView }, { ...finalized, status: JobStatus.Completed }).join(),
      /finalized, the chain has it completed/,
    );
    const inflated = view(3, {
      status: "finalized",
      finalize: { paid: String(parseEther("9")), refund: "0", improvementBps: 4000 },
    });
    const wrong = disagreements(inflated, finalized);
    assert.equal(wrong.length, 2);
    assert.match(wrong[0]!, /9 ARTH paid and 0 refunded, the chain 7 and 3/);
    assert.match(wrong[1]!, /40.00% improvement, the chain 12.00%/);
    assert.deepEqual(
      disagreements(view(1), { ...running, status: JobStatus.None }),
      ["the chain has no such job"],
    );
  });

  await t.step("chainFacts reads what the chain closed", async () => {
    await using net = await startDevnet({ accounts: 3 });
    const mk = (i: number): ArthaClient =>
      createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: net.accounts[i]! });
    const [co, op, owner] = [mk(0), mk(1), mk(2)];
    const addresses = await deployArtha(co, { settlementDelay: 0 });
    const nodePubkey = await registerDevnetNode(op, addresses);
    const { jobId } = await submitTrain(owner, {
      addresses,
      budget: parseEther("5"),
      terms: devnetJobTerms(3),
    });
    await assignNodes(co, { addresses, jobId, nodes: [nodePubkey] });
    const digests = { lossDigest: b32("2"), gradientDigest: b32("3"), proofsRoot: b32("a") };
    await commitRound(op, {
      addresses,
      commit: { jobId, round: 0, nodePubkey, ...digests, weightsDigest: b32("4") },
    });
    await closeRound(co, {
      addresses,
      jobId,
      round: 0,
      checkpointCid: "cp-0",
      weightsDigest: b32("4"),
    });
    const facts = await chainFacts(owner, { addresses, jobId });
    assert.deepEqual(facts, { ...running, settlement: undefined });
    // A coordinator claiming the second round closed, on its own checkpoint, is caught.
    const lie = view(2, { jobId, globalCid: "cp-1" });
    assert.match(disagreements(lie, facts).join(), /2 rounds closed, the chain 1/);
    assert.deepEqual(disagreements(view(1, { jobId }), facts), []);
  });
});

Deno.test("job status: a job with a privacy budget shows what its data owners spent", () => {
  // Found in the privacy audit: `job status` showed no privacy at all, so a budget that means no
  // privacy (epsilon in the thousands) looked like any other private job.
  const lines = describeJob(view(1, { privacy: { epsilon: 912.5, delta: 1e-3, maxEpsilon: 1e4 } }));
  assert.equal(
    lines[1],
    "  privacy: epsilon 913 of 10000 spent (delta 1e-3), for the worst-off data owner",
  );
  assert.equal(describeJob(view(1)).length, 2, "no privacy line without a budget");
});
