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
  parseJobView,
  watchJob,
} from "../../../lib/job/job_status.ts";
import { CoordinatorClient, httpCoordinator } from "../../../lib/worker/client.ts";
import { b32, devnetJobTerms, registerDevnetNode } from "../chain/_devnet_job.ts";

const JOB = b32("a");
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

Deno.test("attacker: a coordinator's status is read as data, never printed as it came", () => {
  // Found in the job owner audit: roundUpdates, a round's updates and bytes, rounds, the model's
  // CID and the job id went to the owner's terminal raw, so an escape sequence in any of them
  // could forge lines or set the clipboard (OSC 52).
  const osc = "\x1b]52;c;ZWNobyBwd25lZA==\x07";
  const honest = JSON.parse(JSON.stringify(view(1)));
  assert.deepEqual(parseJobView(honest), view(1));
  for (
    const [lie, field] of [
      [{ roundUpdates: osc }, /roundUpdates is not a count/],
      [{ rounds: `3${osc}` }, /rounds is not a count/],
      [{ jobId: `0x${osc}` }, /jobId is not a job id/],
      [{ status: osc }, /status is not running, completed or finalized/],
      [{ metrics: [{ ...metric(0), updates: osc }] }, /metrics\[0\]\.updates is not a count/],
      [{ metrics: [{ ...metric(0), bytes: 1.5 }] }, /metrics\[0\]\.bytes is not a count/],
      [{ status: "finalized" }, /finalize is not an object/],
    ] as const
  ) {
    assert.throws(() => parseJobView({ ...honest, ...lie }), (e) => {
      assert.ok(e instanceof TypeError && field.test(e.message), String(e));
      assert.ok(!e.message.includes("\x1b"), "the value is not repeated");
      return true;
    });
  }
  // A diverged round's loss (JSON's null) is NaN, not a crash.
  const diverged = parseJobView({ ...honest, metrics: [{ ...metric(0), valLoss: null }] });
  assert.match(describeJob(diverged)[1]!, /-> NaN/);
  // Text fields are shown with their control characters escaped.
  const finalized = view(3, {
    status: "finalized",
    finalize: { paid: "0", refund: "0", improvementBps: 0 },
    modelFolderCid: `bafy${osc}`,
  });
  const lines = describeJob(parseJobView(JSON.parse(JSON.stringify(finalized))));
  assert.ok(lines.every((l) => !l.includes("\x1b")), JSON.stringify(lines));
  assert.match(lines[0]!, /model artha:\/\/bafy\\x1b\]52/);
});

Deno.test("attacker: a job the chain has open or cancelled is not reported started", () => {
  // Found in the job owner audit: only a completed view of a job running on chain was named, so
  // `status --wait` waited on a coordinator that called an open or cancelled job completed.
  const open: ChainJobFacts = {
    status: JobStatus.Open,
    currentRound: 0,
    latestCheckpointCid: "",
    achievedImprovementBps: 0,
  };
  const completed = view(0, { status: "completed" });
  assert.deepEqual(disagreements(completed, open), [
    "it reports the job completed, the chain has it open",
  ]);
  assert.deepEqual(disagreements(view(0), { ...open, status: JobStatus.Cancelled }), [
    "it reports the job running, the chain has it cancelled",
  ]);
});

Deno.test("attacker: job status --wait checks every poll, not only the last", async () => {
  // Prepare: the coordinator says running, then completed; the owner's check (the chain has it
  // open) refuses the second answer.
  const answers = [view(0), view(0, { status: "completed" })];
  let polls = 0;
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    return Response.json(answers[Math.min(polls++, answers.length - 1)]);
  });
  const coordinator = new CoordinatorClient(
    httpCoordinator(`http://127.0.0.1:${server.addr.port}`),
  );
  const logged: string[] = [];
  const check = (v: JobView) => {
    if (v.status === "completed") throw new Error("the chain has it open");
  };

  // Execute
  const watched = watchJob(coordinator, JOB, {
    timeoutMs: 10_000,
    pollMs: 10,
    log: (l) => void logged.push(l),
    check,
  });

  // Assert: refused at the second poll; its state line was never printed.
  await assert.rejects(watched, /the chain has it open/);
  assert.equal(polls, 2);
  assert.equal(logged.length, 1);
  assert.match(logged[0]!, /running: round 1 of 3/);
});

Deno.test("owner: job status --wait follows a job longer than the coordinator's page of rounds", async () => {
  // Prepare: a finalized 5-round job behind a coordinator that answers at most 2 rounds a page
  // from ?from= (as GET /status?job= pages at 1,000). Before, each poll asked for the whole
  // history and a job past the page was followed no further.
  const all = Array.from({ length: 5 }, (_, r) => metric(r));
  const finalize = { paid: "1", refund: "0", improvementBps: 100 };
  const asked: number[] = [];
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const from = Number(new URL(req.url).searchParams.get("from") ?? 0);
    asked.push(from);
    const metrics = all.filter((m) => m.round >= from).slice(0, 2);
    return Response.json(
      view(5, { status: "finalized", rounds: 5, metrics, metricCount: 5, finalize }),
    );
  });
  const coordinator = new CoordinatorClient(
    httpCoordinator(`http://127.0.0.1:${server.addr.port}`),
  );
  const logged: string[] = [];

  // Execute
  const job = await watchJob(coordinator, JOB, {
    timeoutMs: 10_000,
    pollMs: 10,
    log: (l) => void logged.push(l),
  });

  // Assert: every round once, in order, from pages that start where the last one ended.
  assert.deepEqual(job.metrics.map((m) => m.round), [0, 1, 2, 3, 4]);
  const closed = logged.filter((l) => /closed: validation loss/.test(l));
  assert.deepEqual(closed.map((l) => /round (\d+)\/5/.exec(l)![1]), ["1", "2", "3", "4", "5"]);
  assert.deepEqual(asked, [0, 2, 4]);
});

Deno.test("owner: job status names the closed rounds past the coordinator's page", () => {
  const lines = describeJob(view(2, { metricCount: 1_500 }));
  assert.match(lines.at(-1)!, /and 1498 more closed rounds/);
  assert.deepEqual(
    disagreements(view(2, { metricCount: 3 }), {
      status: JobStatus.Running,
      currentRound: 2,
      latestCheckpointCid: "cp-1",
      achievedImprovementBps: 0,
    }),
    ["it reports 3 rounds closed, the chain 2"],
  );
});

Deno.test("attacker: a coordinator that ignores ?from= does not make job status --wait spin", async () => {
  // Found reviewing the paging: a page that brought no new round still counted as behind, and the
  // watch asked again at once (and checked the chain each time) until its timeout.
  let polls = 0;
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    polls++;
    const finalize = { paid: "1", refund: "0", improvementBps: 100 };
    const metrics = [metric(0), metric(1)];
    return Response.json(
      view(5, { status: "finalized", rounds: 5, metrics, metricCount: 5, finalize }),
    );
  });
  const coordinator = new CoordinatorClient(
    httpCoordinator(`http://127.0.0.1:${server.addr.port}`),
  );

  // Execute
  const job = await watchJob(coordinator, JOB, { timeoutMs: 2_000, pollMs: 10, log: () => {} });

  // Assert: the two rounds it sends, after a page that brought nothing new.
  assert.equal(job.metrics.length, 2);
  assert.ok(polls <= 3, `${polls} polls`);
});
