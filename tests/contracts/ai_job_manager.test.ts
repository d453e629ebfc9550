import assert from "node:assert/strict";
import { encodeAbiParameters, keccak256, parseEther, zeroAddress } from "viem";
import { aiJobManagerBytecode } from "../../lib/abi/AIJobManager.ts";
import {
  abis,
  b32,
  caps,
  DAY,
  event,
  events,
  expectRevert,
  HOUR,
  JobStatus,
  mined,
  nodePubkey,
  NodeRole,
  registerNode,
  roundCommit,
  setupFixture,
  submitJob,
  trainParams,
} from "./_fixture.ts";

Deno.test("AIJobManager", async (t) => {
  await using fx = await setupFixture();
  const [owner, coordinator, alice, bob, carol, stranger] = fx.clients as [
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
  ];
  const jobs = fx.c.jobs;
  const budget = parseEther("30");
  const [n1, n2, n3, basic] = [
    nodePubkey("n1"),
    nodePubkey("n2"),
    nodePubkey("n3"),
    nodePubkey("basic"),
  ];
  const getJob = (jobId: `0x${string}`) =>
    owner.readContract({ ...jobs, functionName: "getJob", args: [jobId] });
  const totals = async () => ({
    escrow: await owner.readContract({ ...jobs, functionName: "totalEscrow" }),
    claimable: await owner.readContract({ ...jobs, functionName: "totalClaimable" }),
    balance: await owner.getBalance({ address: jobs.address }),
  });
  const assign = (client: typeof owner, jobId: `0x${string}`, nodes: `0x${string}`[]) =>
    mined(client, client.writeContract({ ...jobs, functionName: "assign", args: [jobId, nodes] }));

  // Shared by every step (each step rolls back to this state): three GPU nodes and a Basic one.
  await registerNode(fx, alice, { pubkey: n1 });
  await registerNode(fx, alice, { pubkey: n2 });
  await registerNode(fx, bob, { pubkey: n3 });
  await registerNode(fx, bob, { pubkey: basic, role: NodeRole.Basic, caps: caps() });

  await fx.step(t, "submitTrain escrows the budget and emits JobSubmitted", async () => {
    const receipt = await mined(
      carol,
      carol.writeContract({
        ...jobs,
        functionName: "submitTrain",
        args: [trainParams({ rounds: 5, baseRatePerSecond: 7n, targetImprovementBps: 300 })],
        value: budget,
      }),
    );
    // The id binds the deployment (this contract, this chain), so nothing signed for this job
    // can serve a job of another deployment.
    const jobId = keccak256(encodeAbiParameters(
      [{ type: "address" }, { type: "uint256" }, { type: "address" }, { type: "uint256" }],
      [jobs.address, BigInt(fx.net.chainId), carol.account.address, 0n],
    ));
    assert.deepEqual(event(receipt, abis.jobs, "JobSubmitted"), {
      jobId,
      owner: carol.account.address,
      modelCid: "bafy-model",
      datasetCid: "bafy-data",
      paramsHash: b32("params"),
      rounds: 5,
      budget,
    });
    const j = await getJob(jobId);
    assert.equal(j.owner, carol.account.address);
    assert.equal(j.status, JobStatus.Open);
    assert.equal(j.budget, budget);
    assert.equal(j.escrow, budget);
    assert.equal(j.nodesWanted, 3);
    assert.equal(j.redundancy, 1);
    assert.deepEqual(
      await owner.readContract({ ...jobs, functionName: "termsOf", args: [jobId] }),
      {
        owner: carol.account.address,
        status: JobStatus.Open,
        rounds: 5,
        budget,
        escrow: budget,
        baseRatePerSecond: 7n,
        targetImprovementBps: 300,
        achievedImprovementBps: 0,
        stepsPerRound: 10,
        samplesPerStep: 32,
        secondsPerStep: 6,
        completedAt: 0n,
      },
    );
    assert.deepEqual(await totals(), { escrow: budget, claimable: 0n, balance: budget });
    // The owner's nonce makes the next id different.
    assert.notEqual(await submitJob(fx, carol, 1n), jobId);
  });

  await fx.step(
    t,
    "submitTrain reverts with BudgetZero and InvalidParams for bad parameters",
    async () => {
      await expectRevert(
        carol.simulateContract({
          ...jobs,
          functionName: "submitTrain",
          args: [trainParams()],
          value: 0n,
        }),
        "JobManager__BudgetZero",
      );
      const maxRounds = await owner.readContract({ ...jobs, functionName: "MAX_ROUNDS" });
      const maxRedundancy = await owner.readContract({ ...jobs, functionName: "MAX_REDUNDANCY" });
      const cases = [
        [{ rounds: 0 }, "rounds"],
        [{ rounds: Number(maxRounds) + 1 }, "rounds"],
        [{ redundancy: 0 }, "redundancy"],
        [{ redundancy: Number(maxRedundancy) + 1 }, "redundancy"],
        [{ nodesWanted: 0 }, "nodesWanted"],
        [{ modelCid: "" }, "modelCid"],
        [{ datasetCid: "" }, "datasetCid"],
        [{ baseRatePerSecond: 2n }, "baseRatePerSecond"], // above the whole budget (1 wei)
      ] as const;
      for (const [p, reason] of cases) {
        const args = await expectRevert(
          carol.simulateContract({
            ...jobs,
            functionName: "submitTrain",
            args: [trainParams(p)],
            value: 1n,
          }),
          "JobManager__InvalidParams",
        );
        assert.deepEqual(args, [reason]);
      }
    },
  );

  await fx.step(t, "assign authorises eligible live nodes and starts the job", async () => {
    const jobId = await submitJob(fx, carol, budget);
    const receipt = await assign(coordinator, jobId, [n1, n3]);
    assert.deepEqual(
      events(receipt, abis.jobs, "NodeAssigned").map((l) => l.args),
      [
        { jobId, nodePubkey: n1, operator: alice.account.address },
        { jobId, nodePubkey: n3, operator: bob.account.address },
      ],
    );
    assert.deepEqual(
      events(receipt, abis.proofs, "Authorized").map((l) => l.args),
      [
        { jobId, nodePubkey: n1, operator: alice.account.address, allowed: true },
        { jobId, nodePubkey: n3, operator: bob.account.address, allowed: true },
      ],
    );
    assert.deepEqual(event(receipt, abis.jobs, "JobStatusChanged"), {
      jobId,
      status: JobStatus.Running,
    });
    // A coordinator may add nodes to a running job; no second status change.
    const more = await assign(coordinator, jobId, [n2]);
    assert.equal(events(more, abis.jobs, "JobStatusChanged").length, 0);
    assert.deepEqual(
      await owner.readContract({ ...jobs, functionName: "nodesOf", args: [jobId] }),
      [n1, n3, n2],
    );
    assert.equal(
      await owner.readContract({ ...jobs, functionName: "assignedOperator", args: [jobId, n3] }),
      bob.account.address,
    );
    assert.equal(
      await owner.readContract({ ...jobs, functionName: "isAssigned", args: [jobId, n2] }),
      true,
    );
    const work = await owner.readContract({
      ...fx.c.proofs,
      functionName: "workOf",
      args: [jobId, n1, alice.account.address],
    });
    assert.equal(work.authorised, true);
    assert.equal(work.qualityBps, 10_000);
  });

  await fx.step(
    t,
    "assign reverts with TooManyNodes beyond nodesWanted x redundancy active nodes",
    async () => {
      const jobId = await submitJob(fx, carol, budget, { nodesWanted: 2, redundancy: 1 });
      const args = await expectRevert(
        coordinator.simulateContract({
          ...jobs,
          functionName: "assign",
          args: [jobId, [n1, n2, n3]],
        }),
        "JobManager__TooManyNodes",
      );
      assert.deepEqual(args, [3n, 2n]);
      await assign(coordinator, jobId, [n1, n2]);
    },
  );

  await fx.step(t, "assign reverts with NodeNotEligible for a Basic node", async () => {
    const jobId = await submitJob(fx, carol, budget);
    const args = await expectRevert(
      coordinator.simulateContract({ ...jobs, functionName: "assign", args: [jobId, [n1, basic]] }),
      "JobManager__NodeNotEligible",
    );
    assert.deepEqual(args, [basic]);
    await expectRevert(
      coordinator.simulateContract({
        ...jobs,
        functionName: "assign",
        args: [jobId, [b32("nobody")]],
      }),
      "JobManager__NodeNotEligible",
    );
    await mined(
      alice,
      alice.writeContract({ ...fx.c.registry, functionName: "deactivateNode", args: [n1] }),
    );
    await expectRevert(
      coordinator.simulateContract({ ...jobs, functionName: "assign", args: [jobId, [n1]] }),
      "JobManager__NodeNotEligible",
    );
  });

  await fx.step(
    t,
    "assign reverts for silent nodes, duplicates, strangers, the owner and unknown jobs",
    async () => {
      const jobId = await submitJob(fx, carol, budget);
      await fx.increaseTime(HOUR + 1);
      const notLive = await expectRevert(
        coordinator.simulateContract({ ...jobs, functionName: "assign", args: [jobId, [n1]] }),
        "JobManager__NodeNotLive",
      );
      assert.deepEqual(notLive, [n1]);
      await mined(
        alice,
        alice.writeContract({ ...fx.c.registry, functionName: "heartbeat", args: [n1] }),
      );
      await assign(coordinator, jobId, [n1]);
      const dup = await expectRevert(
        coordinator.simulateContract({ ...jobs, functionName: "assign", args: [jobId, [n1]] }),
        "JobManager__AlreadyAssigned",
      );
      assert.deepEqual(dup, [jobId, n1]);
      // Only the coordinator assigns: neither a stranger nor the job's owner (attacks 13).
      for (const who of [stranger, carol]) {
        const ctl = await expectRevert(
          who.simulateContract({ ...jobs, functionName: "assign", args: [jobId, [n2]] }),
          "Owned__NotAuthorised",
        );
        assert.deepEqual(ctl, [who.account.address]);
      }
      await expectRevert(
        coordinator.simulateContract({
          ...jobs,
          functionName: "assign",
          args: [b32("no job"), [n2]],
        }),
        "JobManager__UnknownJob",
      );
      const cancelled = await submitJob(fx, carol, budget);
      await mined(
        carol,
        carol.writeContract({ ...jobs, functionName: "cancelJob", args: [cancelled] }),
      );
      const status = await expectRevert(
        coordinator.simulateContract({ ...jobs, functionName: "assign", args: [cancelled, [n2]] }),
        "JobManager__WrongStatus",
      );
      assert.deepEqual(status, [cancelled, JobStatus.Cancelled]);
    },
  );

  await fx.step(t, "reassign moves the task of a silent node to another node", async () => {
    const jobId = await submitJob(fx, carol, budget);
    await assign(coordinator, jobId, [n1]);
    await mined(
      coordinator,
      coordinator.writeContract({
        ...jobs,
        functionName: "closeRound",
        args: [jobId, 0, "cp0", b32("w0")],
      }),
    );
    await fx.increaseTime(HOUR + 1);
    await mined(
      bob,
      bob.writeContract({ ...fx.c.registry, functionName: "heartbeat", args: [n3] }),
    );
    const receipt = await mined(
      coordinator,
      coordinator.writeContract({ ...jobs, functionName: "reassign", args: [jobId, n1, n3] }),
    );
    assert.deepEqual(event(receipt, abis.jobs, "TaskReassigned"), {
      jobId,
      fromNode: n1,
      toNode: n3,
      round: 1,
    });
    assert.deepEqual(
      events(receipt, abis.proofs, "Authorized").map((l) => l.args),
      [
        { jobId, nodePubkey: n1, operator: alice.account.address, allowed: false },
        { jobId, nodePubkey: n3, operator: bob.account.address, allowed: true },
      ],
    );
    assert.equal(
      await owner.readContract({ ...jobs, functionName: "isAssigned", args: [jobId, n1] }),
      false,
    );
    assert.equal(
      await owner.readContract({ ...jobs, functionName: "isAssigned", args: [jobId, n3] }),
      true,
    );
    assert.deepEqual(
      await owner.readContract({ ...jobs, functionName: "nodesOf", args: [jobId] }),
      [n1, n3],
    );
    // The silent node's operator can no longer commit for it.
    await expectRevert(
      alice.simulateContract({
        ...fx.c.proofs,
        functionName: "commitRound",
        args: [roundCommit(jobId, n1, 1)],
      }),
      "PoC__NotAssigned",
    );
    await mined(
      bob,
      bob.writeContract({
        ...fx.c.proofs,
        functionName: "commitRound",
        args: [roundCommit(jobId, n3, 1)],
      }),
    );
  });

  await fx.step(
    t,
    "reassign reverts with NodeStillLive when the node still heartbeats",
    async () => {
      const jobId = await submitJob(fx, carol, budget);
      await expectRevert(
        coordinator.simulateContract({ ...jobs, functionName: "reassign", args: [jobId, n1, n2] }),
        "JobManager__WrongStatus",
      );
      await assign(coordinator, jobId, [n1]);
      const args = await expectRevert(
        coordinator.simulateContract({ ...jobs, functionName: "reassign", args: [jobId, n1, n2] }),
        "JobManager__NodeStillLive",
      );
      assert.deepEqual(args, [n1]);
      const notAssigned = await expectRevert(
        coordinator.simulateContract({ ...jobs, functionName: "reassign", args: [jobId, n2, n3] }),
        "JobManager__NotAssigned",
      );
      assert.deepEqual(notAssigned, [jobId, n2]);
    },
  );

  await fx.step(
    t,
    "closeRound advances the round and completes the job after the last one",
    async () => {
      const jobId = await submitJob(fx, carol, budget, { rounds: 2 });
      const early = await expectRevert(
        coordinator.simulateContract({
          ...jobs,
          functionName: "closeRound",
          args: [jobId, 0, "cp", b32("w")],
        }),
        "JobManager__WrongStatus",
      );
      assert.deepEqual(early, [jobId, JobStatus.Open]);
      await assign(coordinator, jobId, [n1]);
      await expectRevert(
        carol.simulateContract({
          ...jobs,
          functionName: "closeRound",
          args: [jobId, 0, "cp", b32("w")],
        }),
        "Owned__NotAuthorised",
      );
      const wrong = await expectRevert(
        coordinator.simulateContract({
          ...jobs,
          functionName: "closeRound",
          args: [jobId, 1, "cp", b32("w")],
        }),
        "JobManager__WrongRound",
      );
      assert.deepEqual(wrong, [1n, 0n]);
      const r0 = await mined(
        coordinator,
        coordinator.writeContract({
          ...jobs,
          functionName: "closeRound",
          args: [jobId, 0, "cp0", b32("w0")],
        }),
      );
      assert.deepEqual(event(r0, abis.jobs, "RoundClosed"), {
        jobId,
        round: 0,
        checkpointCid: "cp0",
        weightsDigest: b32("w0"),
      });
      assert.equal(events(r0, abis.jobs, "JobStatusChanged").length, 0);
      const r1 = await mined(
        coordinator,
        coordinator.writeContract({
          ...jobs,
          functionName: "closeRound",
          args: [jobId, 1, "cp1", b32("w1")],
        }),
      );
      assert.deepEqual(event(r1, abis.jobs, "JobStatusChanged"), {
        jobId,
        status: JobStatus.Completed,
      });
      const j = await getJob(jobId);
      assert.equal(j.currentRound, 2);
      assert.equal(j.latestCheckpointCid, "cp1");
      assert.equal(j.latestWeightsDigest, b32("w1"));
      assert.equal(j.status, JobStatus.Completed);
      await expectRevert(
        coordinator.simulateContract({
          ...jobs,
          functionName: "closeRound",
          args: [jobId, 2, "cp", b32("w")],
        }),
        "JobManager__WrongStatus",
      );
      await expectRevert(
        coordinator.simulateContract({
          ...jobs,
          functionName: "closeRound",
          args: [b32("x"), 0, "cp", b32("w")],
        }),
        "JobManager__UnknownJob",
      );
    },
  );

  await fx.step(
    t,
    "reportAccuracy records the improvement while running or completed",
    async () => {
      const jobId = await submitJob(fx, carol, budget, { rounds: 1 });
      await expectRevert(
        coordinator.simulateContract({
          ...jobs,
          functionName: "reportAccuracy",
          args: [jobId, 100],
        }),
        "JobManager__WrongStatus",
      );
      await assign(coordinator, jobId, [n1]);
      const receipt = await mined(
        coordinator,
        coordinator.writeContract({ ...jobs, functionName: "reportAccuracy", args: [jobId, 120] }),
      );
      assert.deepEqual(event(receipt, abis.jobs, "AccuracyReported"), {
        jobId,
        improvementBps: 120,
      });
      await mined(
        coordinator,
        coordinator.writeContract({
          ...jobs,
          functionName: "closeRound",
          args: [jobId, 0, "cp", b32("w")],
        }),
      );
      await mined(
        coordinator,
        coordinator.writeContract({ ...jobs, functionName: "reportAccuracy", args: [jobId, 450] }),
      );
      assert.equal((await getJob(jobId)).achievedImprovementBps, 450);
      await expectRevert(
        carol.simulateContract({ ...jobs, functionName: "reportAccuracy", args: [jobId, 1] }),
        "Owned__NotAuthorised",
      );
    },
  );

  await fx.step(
    t,
    "attacker: an absent owner cannot lock the pay its nodes earned for closed rounds",
    async () => {
      // Found in the contracts audit: only the job owner could abandonJob, finalize needs the job
      // Completed, and the stall window was a day plus stepsPerRound x secondsPerStep, which the
      // owner picks (up to 1e6 steps x 1 day: ~2,740 years). Two nodes committed round 0, the
      // coordinator closed it and went silent: 30 days later finalize reverted JobNotCompleted, a
      // node's abandonJob NotJobController and the owner's NotStalled. With the owner gone, the
      // nodes' pay for the closed round was locked for good.
      // Prepare: a job whose rounds are budgeted at the longest compute terms, round 0 closed.
      const jobId = await submitJob(fx, carol, budget, {
        rounds: 4,
        nodesWanted: 2,
        stepsPerRound: 1_000_000,
        secondsPerStep: DAY,
      });
      await assign(coordinator, jobId, [n1, n3]);
      for (const [n, op] of [[n1, alice], [n3, bob]] as const) {
        await mined(
          op,
          op.writeContract({
            ...fx.c.proofs,
            functionName: "commitRound",
            args: [roundCommit(jobId, n, 0)],
          }),
        );
      }
      const closed = await mined(
        coordinator,
        coordinator.writeContract({
          ...jobs,
          functionName: "closeRound",
          args: [jobId, 0, "cp0", b32("w0")],
        }),
      );
      const closedAt = (await owner.getBlock({ blockNumber: closed.blockNumber })).timestamp;
      // An operator names its node, so the check is one read however many nodes it runs.
      const abandon = (by: typeof owner, node = n1) =>
        by.simulateContract({ ...jobs, functionName: "abandonJobAsOperator", args: [jobId, node] });

      // Execute + Assert: the round-compute term of the window is capped, so the job stalls a day
      // plus a week after the close, not millennia.
      const stalledAt = await owner.readContract({
        ...jobs,
        functionName: "stalledAt",
        args: [jobId],
      });
      assert.equal(stalledAt, closedAt + BigInt(DAY + 7 * DAY));
      const [, early] = await expectRevert(abandon(alice), "JobManager__NotStalled");
      assert.equal(early, stalledAt);
      await fx.increaseTime(30 * DAY);
      await expectRevert(
        stranger.simulateContract({ ...fx.c.proofs, functionName: "finalize", args: [jobId] }),
        "PoC__JobNotCompleted",
      );
      // Someone with no node on the job still may not end it, naming another's node or not; an
      // operator may not take the owner's call.
      const [caller] = await expectRevert(abandon(stranger), "JobManager__NotJobController");
      assert.equal(caller, stranger.account.address);
      await expectRevert(abandon(alice, n3), "JobManager__NotJobController");
      await expectRevert(abandon(alice, n2), "JobManager__NotJobController");
      await expectRevert(
        alice.simulateContract({ ...jobs, functionName: "abandonJob", args: [jobId] }),
        "JobManager__NotJobController",
      );
      // A node's operator ends it; the unspent half of the budget is the owner's, not the caller's.
      const r = await mined(alice, alice.writeContract((await abandon(alice)).request));
      assert.deepEqual(event(r, abis.jobs, "JobAbandoned"), {
        jobId,
        by: alice.account.address,
        rounds: 2,
        budget: budget / 2n,
        refund: budget / 2n,
      });
      assert.deepEqual(event(r, abis.jobs, "Credited"), {
        jobId,
        to: carol.account.address,
        amount: budget / 2n,
      });
      const claimable = (who: typeof owner) =>
        owner.readContract({ ...jobs, functionName: "claimableOf", args: [who.account.address] });
      assert.equal(await claimable(alice), 0n);
      // Settlement is open again: both nodes are paid for the round that closed.
      const f = await mined(
        stranger,
        stranger.writeContract({ ...fx.c.proofs, functionName: "finalize", args: [jobId] }),
      );
      const paid = events(f, abis.proofs, "RewardCredited").map((l) => l.args);
      assert.deepEqual(paid.map((p) => p.nodePubkey).sort(), [n1, n3].sort());
      for (const who of [alice, bob]) assert.ok(await claimable(who) > 0n, "closed round paid");
      assert.equal((await getJob(jobId)).escrow, 0n);
    },
  );

  await fx.step(t, "cancelJob credits the budget to the owner, who withdraws it", async () => {
    const jobId = await submitJob(fx, carol, budget);
    await expectRevert(
      stranger.simulateContract({ ...jobs, functionName: "cancelJob", args: [jobId] }),
      "JobManager__NotJobController",
    );
    const receipt = await mined(
      carol,
      carol.writeContract({ ...jobs, functionName: "cancelJob", args: [jobId] }),
    );
    assert.deepEqual(event(receipt, abis.jobs, "JobStatusChanged"), {
      jobId,
      status: JobStatus.Cancelled,
    });
    assert.deepEqual(event(receipt, abis.jobs, "Credited"), {
      jobId,
      to: carol.account.address,
      amount: budget,
    });
    assert.equal(
      await owner.readContract({
        ...jobs,
        functionName: "claimableOf",
        args: [carol.account.address],
      }),
      budget,
    );
    assert.deepEqual(await totals(), { escrow: 0n, claimable: budget, balance: budget });
    assert.equal((await getJob(jobId)).escrow, 0n);
    const before = await owner.getBalance({ address: carol.account.address });
    const w = await mined(carol, carol.writeContract({ ...jobs, functionName: "withdraw" }));
    assert.deepEqual(event(w, abis.jobs, "Withdrawn"), {
      account: carol.account.address,
      amount: budget,
    });
    assert.equal(
      await owner.getBalance({ address: carol.account.address }),
      before + budget - w.gasUsed * w.effectiveGasPrice,
    );
    assert.deepEqual(await totals(), { escrow: 0n, claimable: 0n, balance: 0n });
    const nothing = await expectRevert(
      carol.simulateContract({ ...jobs, functionName: "withdraw" }),
      "JobManager__NothingToWithdraw",
    );
    assert.deepEqual(nothing, [carol.account.address]);
    const running = await submitJob(fx, carol, budget);
    await assign(coordinator, running, [n1]);
    await expectRevert(
      carol.simulateContract({ ...jobs, functionName: "cancelJob", args: [running] }),
      "JobManager__WrongStatus",
    );
    await expectRevert(
      carol.simulateContract({ ...jobs, functionName: "cancelJob", args: [b32("none")] }),
      "JobManager__UnknownJob",
    );
  });

  await fx.step(
    t,
    "credit and markFinalized revert with NotProofOfCompute for other callers",
    async () => {
      const jobId = await submitJob(fx, carol, budget);
      for (const client of [owner, coordinator, carol]) {
        const a = await expectRevert(
          client.simulateContract({
            ...jobs,
            functionName: "credit",
            args: [jobId, client.account.address, 1n],
          }),
          "JobManager__NotProofOfCompute",
        );
        assert.deepEqual(a, [client.account.address]);
        await expectRevert(
          client.simulateContract({ ...jobs, functionName: "markFinalized", args: [jobId] }),
          "JobManager__NotProofOfCompute",
        );
      }
    },
  );

  await fx.step(t, "credit reverts with EscrowExceeded beyond the job's escrow", async () => {
    // A second job manager whose "ProofOfCompute" is an account, so the hooks can be called directly.
    const deployed = await owner.waitForTransactionReceipt({
      hash: await owner.deployContract({ abi: abis.jobs, bytecode: aiJobManagerBytecode }),
    });
    const other = { address: deployed.contractAddress!, abi: abis.jobs } as const;
    const poc = stranger;
    await expectRevert(
      owner.simulateContract({
        ...other,
        functionName: "setLinks",
        args: [fx.addrs.registry, zeroAddress],
      }),
      "Owned__ZeroAddress",
    );
    await expectRevert(
      carol.simulateContract({
        ...other,
        functionName: "setLinks",
        args: [fx.addrs.registry, poc.account.address],
      }),
      "Owned__NotOwner",
    );
    const linked = await mined(
      owner,
      owner.writeContract({
        ...other,
        functionName: "setLinks",
        args: [fx.addrs.registry, poc.account.address],
      }),
    );
    assert.deepEqual(event(linked, abis.jobs, "LinksSet"), {
      registry: fx.addrs.registry,
      proofOfCompute: poc.account.address,
    });
    assert.equal(
      await owner.readContract({ ...other, functionName: "proofOfCompute" }),
      poc.account.address,
    );
    assert.equal(
      await owner.readContract({ ...other, functionName: "registry" }),
      fx.addrs.registry,
    );
    const receipt = await mined(
      carol,
      carol.writeContract({
        ...other,
        functionName: "submitTrain",
        args: [trainParams()],
        value: 100n,
      }),
    );
    const jobId = event(receipt, abis.jobs, "JobSubmitted").jobId;
    const credited = await mined(
      poc,
      poc.writeContract({
        ...other,
        functionName: "credit",
        args: [jobId, bob.account.address, 60n],
      }),
    );
    assert.deepEqual(event(credited, abis.jobs, "Credited"), {
      jobId,
      to: bob.account.address,
      amount: 60n,
    });
    const args = await expectRevert(
      poc.simulateContract({
        ...other,
        functionName: "credit",
        args: [jobId, bob.account.address, 41n],
      }),
      "JobManager__EscrowExceeded",
    );
    assert.deepEqual(args, [41n, 40n]);
    await expectRevert(
      poc.simulateContract({ ...other, functionName: "markFinalized", args: [jobId] }),
      "JobManager__WrongStatus",
    );
    await expectRevert(
      poc.simulateContract({
        ...other,
        functionName: "credit",
        args: [b32("none"), bob.account.address, 1n],
      }),
      "JobManager__UnknownJob",
    );
  });

  await fx.step(
    t,
    "withdraw reverts with TransferFailed when the account refuses payment",
    async () => {
      // ModelRegistry has no receive function; impersonate it to own a cancelled job.
      const refuser = fx.addrs.models;
      await fx.rpc("anvil_impersonateAccount", [refuser]);
      await fx.rpc("anvil_setBalance", [refuser, "0x56bc75e2d63100000"]);
      const receipt = await mined(
        owner,
        owner.writeContract({
          account: refuser,
          ...jobs,
          functionName: "submitTrain",
          args: [trainParams()],
          value: budget,
        }),
      );
      const jobId = event(receipt, abis.jobs, "JobSubmitted").jobId;
      await mined(
        owner,
        owner.writeContract({
          account: refuser,
          ...jobs,
          functionName: "cancelJob",
          args: [jobId],
        }),
      );
      const args = await expectRevert(
        owner.simulateContract({ account: refuser, ...jobs, functionName: "withdraw" }),
        "JobManager__TransferFailed",
      );
      assert.deepEqual(args, [refuser, budget]);
      await fx.rpc("anvil_stopImpersonatingAccount", [refuser]);
    },
  );

  await fx.step(t, "setLinks is owner only", async () => {
    await expectRevert(
      stranger.simulateContract({
        ...jobs,
        functionName: "setLinks",
        args: [fx.addrs.registry, fx.addrs.proofs],
      }),
      "Owned__NotOwner",
    );
    assert.equal(
      await owner.readContract({ ...jobs, functionName: "registry" }),
      fx.addrs.registry,
    );
    assert.equal(
      await owner.readContract({ ...jobs, functionName: "proofOfCompute" }),
      fx.addrs.proofs,
    );
  });
});
