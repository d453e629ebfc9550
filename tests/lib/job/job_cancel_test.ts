/**
 * `job cancel` on anvil (lib/job/job_cancel.ts): an Open job comes back whole; a running job is
 * refused while its coordinator may still close rounds, abandoned once it stopped (the rest of
 * the budget back at once), and settled when run again after the delay, the node paid for its
 * committed rounds; nobody but the owner ends a job, and an unknown job is named as such.
 */
import assert from "node:assert/strict";
import { type Hex, parseEther } from "viem";
import { advanceDevnetTime, startDevnet } from "../../../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../../../lib/chain/client.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { type ArthaAddresses, JobStatus } from "../../../lib/chain/contracts.ts";
import { submitTrain } from "../../../lib/chain/submit_train.ts";
import { assignNodes } from "../../../lib/chain/assign_nodes.ts";
import { commitRound } from "../../../lib/chain/commit_round.ts";
import { closeRound } from "../../../lib/chain/close_round.ts";
import { getClaimable } from "../../../lib/chain/get_claimable.ts";
import { getOpenCases } from "../../../lib/chain/get_open_cases.ts";
import { issueChallenge } from "../../../lib/chain/issue_challenge.ts";
import { sendHeartbeat } from "../../../lib/chain/heartbeat.ts";
import { cancelOwnJob, CancelRefusedError, settleAsOperator } from "../../../lib/job/job_cancel.ts";
import { setTaskGroups } from "../../../lib/chain/set_task_groups.ts";
import { getNodeCert } from "../../../lib/chain/get_node_cert.ts";
import { readJob } from "../../../lib/chain/read_job.ts";
import { b32, devnetJobTerms, registerDevnetNode } from "../chain/_devnet_job.ts";

const DELAY = 3600;

/** `op` commits `round` of `jobId` for its node, the round's weights digest `b32(weights)`. */
function commitAs(
  op: ArthaClient,
  addresses: ArthaAddresses,
  c: { jobId: Hex; round: number; nodePubkey: Hex; weights: string },
) {
  const { jobId, round, nodePubkey, weights } = c;
  return commitRound(op, {
    addresses,
    commit: {
      jobId,
      round,
      nodePubkey,
      lossDigest: b32("2"),
      gradientDigest: b32("3"),
      weightsDigest: b32(weights),
      proofsRoot: b32("a"),
    },
  });
}

Deno.test("job cancel: open jobs whole, stalled jobs after the window, the rest at settlement", async (t) => {
  await using net = await startDevnet({ accounts: 4 });
  const mk = (i: number): ArthaClient =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: net.accounts[i]! });
  const [co, op, owner, stranger] = [mk(0), mk(1), mk(2), mk(3)];
  const addresses = await deployArtha(co, { settlementDelay: DELAY });
  const nodePubkey = await registerDevnetNode(op, addresses);
  const budget = parseEther("8");
  const submit = async () =>
    (await submitTrain(owner, {
      addresses,
      budget,
      terms: devnetJobTerms(4),
    })).jobId;
  const passes = async (seconds: number) => {
    await advanceDevnetTime(co, seconds);
    await co.request({ method: "evm_mine" as never });
  };
  /** Commits `round` of `jobId` as the node, its weights digest `b32(String(base + round))`. */
  const committer = (jobId: Hex, base: number) => (round: number) =>
    commitAs(op, addresses, { jobId, round, nodePubkey, weights: String(base + round) });
  const refused = async (client: ArthaClient, jobId: Hex, code: string) => {
    const nonce = await client.getTransactionCount({ address: client.account.address });
    await assert.rejects(
      cancelOwnJob(client, { addresses, jobId }),
      (e) => e instanceof CancelRefusedError && e.code === code,
    );
    const after = await client.getTransactionCount({ address: client.account.address });
    assert.equal(after, nonce, "a refused cancel sends nothing");
  };

  await t.step("an open job comes back whole, to its owner only", async () => {
    const jobId = await submit();
    await refused(stranger, jobId, "NOT_JOB_OWNER");
    const balance = await owner.getBalance({ address: owner.account.address });
    const done = await cancelOwnJob(owner, { addresses, jobId });
    assert.deepEqual(done, {
      status: JobStatus.Cancelled,
      refunded: budget,
      withdrawn: budget,
      settlesAt: undefined,
    });
    const gain = await owner.getBalance({ address: owner.account.address }) - balance;
    assert.ok(gain > budget - parseEther("0.01"), `the budget reached the owner (${gain})`);
    const again = await cancelOwnJob(owner, { addresses, jobId });
    assert.deepEqual(again, { ...done, refunded: 0n, withdrawn: 0n });
    await refused(owner, b32("9"), "UNKNOWN_JOB");
  });

  await t.step(
    "a running job: refused while live, abandoned once stalled, then settled",
    async () => {
      const jobId = await submit();
      await assignNodes(co, { addresses, jobId, nodes: [nodePubkey] });
      const commit = committer(jobId, 4);
      await commit(0);
      await closeRound(co, {
        addresses,
        jobId,
        round: 0,
        checkpointCid: "cp-0",
        weightsDigest: b32("4"),
      });
      await commit(1);
      await refused(owner, jobId, "JOB_RUNNING");
      await passes(86_400 + 4 * 6);
      await refused(stranger, jobId, "NOT_JOB_OWNER");
      const abandoned = await cancelOwnJob(owner, { addresses, jobId });
      // Two of four rounds ran (round 1 is open and committed): half the budget comes back now.
      assert.equal(abandoned.status, JobStatus.Completed);
      assert.equal(abandoned.refunded, budget / 2n);
      assert.equal(abandoned.withdrawn, budget / 2n);
      assert.ok(abandoned.settlesAt! > 0);
      // Before the delay, a second run only says when.
      const early = await cancelOwnJob(owner, { addresses, jobId });
      assert.deepEqual(early, { ...abandoned, refunded: 0n, withdrawn: 0n });
      await passes(DELAY);
      const settled = await cancelOwnJob(owner, { addresses, jobId });
      assert.equal(settled.status, JobStatus.Finalized);
      assert.equal(settled.settlesAt, undefined);
      const paid = await getClaimable(co, { addresses, account: op.account.address });
      // Round 0 closed; round 1, left open, has no task group to confirm it (attacks 38).
      assert.ok(paid > 0n, "the node's closed round is paid");
      assert.equal(settled.refunded + paid, budget / 2n, "the rest of the kept half comes back");
      assert.equal(settled.withdrawn, settled.refunded);
    },
  );

  await t.step(
    "victim: a node's operator gets its pay when owner and coordinator both went away",
    async () => {
      const jobId = await submit();
      await sendHeartbeat(op, { addresses, nodePubkey }); // hours passed in the step before
      await assignNodes(co, { addresses, jobId, nodes: [nodePubkey] });
      await committer(jobId, 7)(0);
      await closeRound(co, {
        addresses,
        jobId,
        round: 0,
        checkpointCid: "cp-0",
        weightsDigest: b32("7"),
      });
      const settle = (client: ArthaClient, node = nodePubkey) =>
        settleAsOperator(client, { addresses, jobId, node });
      const refusedSettle = async (client: ArthaClient, node: Hex, code: string) => {
        const nonce = await client.getTransactionCount({ address: client.account.address });
        await assert.rejects(
          settle(client, node),
          (e) => e instanceof CancelRefusedError && e.code === code,
        );
        const after = await client.getTransactionCount({ address: client.account.address });
        assert.equal(after, nonce, "a refused settle sends nothing");
      };
      await refusedSettle(op, nodePubkey, "JOB_RUNNING");
      await passes(86_400 + 4 * 6);
      // Only the operator of a node the job was assigned may end it this way.
      await refusedSettle(stranger, nodePubkey, "NOT_JOB_NODE");
      await refusedSettle(op, b32("e"), "NOT_JOB_NODE"); // a node it never ran
      const before = await op.getBalance({ address: op.account.address });
      const abandoned = await settle(op);
      assert.equal(abandoned.status, JobStatus.Completed);
      assert.equal(abandoned.refunded, 0n);
      // The owner is credited the unspent rounds (round 1 was open: two of four ran).
      const ownerCredit = await getClaimable(co, { addresses, account: owner.account.address });
      assert.equal(ownerCredit, budget / 2n);
      await passes(DELAY);
      const settled = await settle(op);
      assert.equal(settled.status, JobStatus.Finalized);
      assert.ok(settled.withdrawn > 0n, "the node's closed round is paid to its operator");
      assert.equal(await getClaimable(co, { addresses, account: op.account.address }), 0n);
      const gain = await op.getBalance({ address: op.account.address }) - before;
      assert.ok(gain > settled.withdrawn - parseEther("0.01"), `the pay reached it (${gain})`);
      await cancelOwnJob(owner, { addresses, jobId }); // the owner's credit, for the next steps
    },
  );

  await t.step(
    "victim: a challenge the vanished coordinator left open does not hold the settlement",
    async () => {
      // Prepare: the coordinator challenged round 0, then vanished; the node never answered.
      // Found in the job owner audit: `job cancel` then only said "run this again" for as long
      // as the case stayed open, which is for ever, although anyone may time out a challenge past
      // its window: the nodes' pay and the owner's refund stayed locked in escrow.
      const jobId = await submit();
      await sendHeartbeat(op, { addresses, nodePubkey }); // hours passed in the step before
      await assignNodes(co, { addresses, jobId, nodes: [nodePubkey] });
      const commit = committer(jobId, 6);
      await commit(0);
      await closeRound(co, {
        addresses,
        jobId,
        round: 0,
        checkpointCid: "cp-0",
        weightsDigest: b32("6"),
      });
      await issueChallenge(co, { addresses, jobId, round: 0, nodePubkey });
      await commit(1);
      await passes(86_400 + 4 * 6);
      await cancelOwnJob(owner, { addresses, jobId }); // abandoned
      await passes(DELAY);
      assert.ok(await getOpenCases(co, { addresses, jobId }) > 0, "the challenge is still open");

      // Execute
      const lines: string[] = [];
      const settled = await cancelOwnJob(owner, { addresses, jobId, log: (l) => lines.push(l) });

      // Assert: the owner's run ended the challenge and settled the job.
      assert.equal(settled.status, JobStatus.Finalized, lines.join("\n"));
      assert.equal(await getOpenCases(co, { addresses, jobId }), 0);
      assert.ok(settled.refunded > 0n);
    },
  );
});

Deno.test("victim: job cancel settles the round an abandoned job left open, so a made-up commit there is not paid", async () => {
  // Prepare: three nodes in one task group; in round 1 one commits a made-up result beside its
  // mates' honest one, then the coordinator vanishes. Found in the contracts audit: the round the
  // abandonment left open could be judged by nothing, and the made-up commit was paid its share
  // of the owner's escrow.
  await using net = await startDevnet({ accounts: 5 });
  const mk = (i: number): ArthaClient =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: net.accounts[i]! });
  const [co, owner] = [mk(0), mk(1)];
  const ops = [mk(2), mk(3), mk(4)];
  const addresses = await deployArtha(co, { settlementDelay: DELAY });
  const [cheat, h1, h2] = await Promise.all(
    ops.map((op) => registerDevnetNode(op, addresses)),
  ) as [Hex, Hex, Hex];
  const opOf = new Map([[cheat, ops[0]!], [h1, ops[1]!], [h2, ops[2]!]]);
  const terms = { ...devnetJobTerms(4), nodesWanted: 3, redundancy: 3 };
  const { jobId } = await submitTrain(owner, { addresses, budget: parseEther("8"), terms });
  await assignNodes(co, { addresses, jobId, nodes: [cheat, h1, h2] });
  await setTaskGroups(co, { addresses, jobId, nodes: [cheat, h1, h2], groups: [1, 1, 1] });
  const commit = (nodePubkey: Hex, round: number, weights: string) =>
    commitAs(opOf.get(nodePubkey)!, addresses, { jobId, round, nodePubkey, weights });
  for (const n of [cheat, h1, h2]) await commit(n, 0, "4");
  await closeRound(co, {
    addresses,
    jobId,
    round: 0,
    checkpointCid: "cp-0",
    weightsDigest: b32("4"),
  });
  await commit(cheat, 1, "9");
  for (const n of [h1, h2]) await commit(n, 1, "5");
  await advanceDevnetTime(co, 86_400 + 4 * 6);
  await co.request({ method: "evm_mine" as never });

  // Execute: the owner abandons the job, and settles it after the delay.
  const lines: string[] = [];
  await cancelOwnJob(owner, { addresses, jobId, log: (l) => lines.push(l) });
  await advanceDevnetTime(co, DELAY);
  await co.request({ method: "evm_mine" as never });
  const settled = await cancelOwnJob(owner, { addresses, jobId, log: (l) => lines.push(l) });

  // Assert: the cheat's group was settled against it (slashed 50%) and the job settled.
  assert.equal(settled.status, JobStatus.Finalized, lines.join("\n"));
  assert.ok(
    lines.some((l) => /settled 1 task group\(s\) of its last round/.test(l)),
    lines.join("\n"),
  );
  const stake = async (nodePubkey: Hex) => (await getNodeCert(co, { addresses, nodePubkey })).stake;
  assert.ok(await stake(cheat) < await stake(h1), "the made-up commit was slashed");
});

Deno.test("owner: a cancel that loses the race to the job's start says the job started meanwhile", async () => {
  // Prepare: the owner's cancel reads the job Open; its coordinator assigns a node before the
  // cancel's transaction is filled (a start in flight). Found in the job owner audit: the owner
  // read a raw `JobManager__WrongStatus(0x…, 1)`.
  await using net = await startDevnet({ accounts: 3 });
  const at = { rpcUrl: net.rpcUrl, chainId: net.chainId };
  const co = createArthaClient({ ...at, account: net.accounts[0]! });
  const addresses = await deployArtha(co, { settlementDelay: DELAY });
  const nodePubkey = await registerDevnetNode(
    createArthaClient({ ...at, account: net.accounts[1]! }),
    addresses,
  );
  const direct = createArthaClient({ ...at, account: net.accounts[2]! });
  const { jobId } = await submitTrain(direct, {
    addresses,
    budget: parseEther("1"),
    terms: devnetJobTerms(2),
  });
  let started: Promise<unknown> | undefined;
  await using proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    const { method } = JSON.parse(body) as { method: string };
    if (/^eth_(estimateGas|fillTransaction|sendRawTransaction)$/.test(method)) {
      await (started ??= assignNodes(co, { addresses, jobId, nodes: [nodePubkey] }));
    }
    const headers = { "content-type": "application/json" };
    return await fetch(net.rpcUrl, { method: "POST", body, headers });
  });
  const rpcUrl = `http://127.0.0.1:${proxy.addr.port}`;
  const owner = createArthaClient({ rpcUrl, chainId: net.chainId, account: net.accounts[2]! });

  // Execute
  const refused = cancelOwnJob(owner, { addresses, jobId });

  // Assert: refused as running, in words, and the job is the coordinator's.
  await assert.rejects(refused, (e) => {
    assert.ok(e instanceof CancelRefusedError, String(e));
    assert.equal(e.code, "JOB_RUNNING");
    assert.match(e.message, /it started meanwhile/);
    return true;
  });
  assert.equal((await readJob(direct, { addresses, jobId })).status, JobStatus.Running);
});
