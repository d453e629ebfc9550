import assert from "node:assert/strict";
import {
  encodeAbiParameters,
  type Hex,
  keccak256,
  parseEther,
  stringToHex,
  zeroAddress,
} from "viem";
import { proofOfComputeBytecode } from "../../lib/abi/ProofOfCompute.ts";
import { arthaDomain } from "../../lib/crypto/domain.ts";
import { hashTrainProof } from "../../lib/round/train_proof.ts";
import {
  abis,
  b32,
  event,
  events,
  expectRevert,
  type Fixture,
  JobStatus,
  mined,
  nodePubkey,
  registerNode,
  roundCommit,
  setupFixture,
  SlashReason,
  submitJob,
  ZERO32,
} from "./_fixture.ts";

const BPS = 10_000n;

/** Work of one node on a job, as ProofOfCompute.Work counts it. */
interface Work {
  rounds: bigint;
  steps: bigint;
  samples: bigint;
  gpuSeconds: bigint;
  quality: bigint;
}

interface Reward {
  batchReward: bigint;
  stepReward: bigint;
  roundReward: bigint;
  accuracyBonus: bigint;
}

/** TypeScript re-implementation of ProofOfCompute.finalize's reward formulas. */
function expectedRewards(
  budget: bigint,
  baseRate: bigint,
  works: Work[],
  bonus: boolean,
): Reward[] {
  const demand = (w: Work, quality = w.quality) => {
    if (w.steps === 0n) return 0n;
    let b = w.samples / w.steps * 10n;
    if (b > 2_000n) b = 2_000n;
    return w.gpuSeconds * baseRate * (BPS + b) / BPS * quality / BPS;
  };
  // A zero-quality node's work counts in the totals at neutral quality: its share is the
  // owner's refund, not its job mates' (attacks 40).
  const weight = (w: Work) => w.quality === 0n ? BPS : w.quality;
  const sum = (f: (w: Work) => bigint) => works.reduce((acc, w) => acc + f(w), 0n);
  const totDemand = sum((w) => demand(w, weight(w)));
  const totSteps = sum((w) => w.steps * weight(w));
  const totRounds = sum((w) => w.rounds * weight(w));
  const totSamples = sum((w) => w.samples * weight(w));
  const share = (poolBps: bigint, part: bigint, whole: bigint) =>
    whole === 0n ? 0n : budget * poolBps / BPS * part / whole;
  const batchPool = budget * 4_000n / BPS;
  return works.map((w) => {
    let batchReward = demand(w);
    if (totDemand > batchPool) batchReward = batchReward * batchPool / totDemand;
    return {
      batchReward,
      stepReward: share(2_000n, w.steps * w.quality, totSteps),
      roundReward: share(3_000n, w.rounds * w.quality, totRounds),
      accuracyBonus: bonus ? share(1_000n, w.samples * w.quality, totSamples) : 0n,
    };
  });
}

const total = (r: Reward) => r.batchReward + r.stepReward + r.roundReward + r.accuracyBonus;

Deno.test("ProofOfCompute", async (t) => {
  // setQuality and penalise are called as an authorised verifier, which in a deployment is
  // VerificationManager alone (the coordinator is not authorised here: attacks 14, 31); the
  // coordinator's account stands in for it, authorised before deployment fixes the set.
  await using fx: Fixture = await setupFixture({ accounts: 7, authorised: { proofs: [1] } });
  const [owner, coordinator, alice, bob, carol, dave, stranger] = fx.clients as [
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
  ];
  const poc = fx.c.proofs;
  const jobs = fx.c.jobs;
  const nodes = [nodePubkey("gpu-1"), nodePubkey("gpu-2"), nodePubkey("gpu-3")] as const;
  const operators = [alice, bob, carol] as const;
  const [n1, n2, n3] = nodes;

  // Shared by every step: three GPUProvider nodes, one per operator.
  for (let i = 0; i < 3; i++) await registerNode(fx, operators[i]!, { pubkey: nodes[i]! });

  const commit = (
    i: number,
    jobId: Hex,
    round: number,
    work: Parameters<typeof roundCommit>[3] = {},
  ) =>
    mined(
      operators[i]!,
      operators[i]!.writeContract({
        ...poc,
        functionName: "commitRound",
        args: [roundCommit(jobId, nodes[i]!, round, work)],
      }),
    );
  const closeRound = (jobId: Hex, round: number) =>
    mined(
      coordinator,
      coordinator.writeContract({
        ...jobs,
        functionName: "closeRound",
        args: [jobId, round, `cp-${round}`, b32(`w-${round}`)],
      }),
    );
  const startJob = async (budget: bigint, p: Parameters<typeof submitJob>[3] = {}) => {
    const jobId = await submitJob(fx, dave, budget, p);
    await mined(
      coordinator,
      coordinator.writeContract({ ...jobs, functionName: "assign", args: [jobId, [...nodes]] }),
    );
    return jobId;
  };
  const getJobStatus = async (jobId: Hex) =>
    (await owner.readContract({ ...jobs, functionName: "getJob", args: [jobId] })).status;
  const claimable = (who: typeof owner) =>
    owner.readContract({ ...jobs, functionName: "claimableOf", args: [who.account.address] });

  /** The work one committed round stands for in the reward scenarios (the job's terms). */
  const TERMS = { stepsPerRound: 10, samplesPerStep: 32, secondsPerStep: 20 };
  /** Node 3 skips round 1, so the nodes' shares differ. */
  const commits = (i: number, r: number) => !(i === 2 && r === 1);

  /** Runs a job through every round and finalize; returns the receipt of finalize. */
  async function runJob(
    budget: bigint,
    baseRatePerSecond: bigint,
    rounds: number,
    achieved: number,
    beforeFinalize: (jobId: Hex) => Promise<void> = async () => {},
  ) {
    const jobId = await startJob(budget, {
      rounds,
      baseRatePerSecond,
      targetImprovementBps: 500,
      ...TERMS,
    });
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < 3; i++) if (commits(i, r)) await commit(i, jobId, r);
      await closeRound(jobId, r);
    }
    await mined(
      coordinator,
      coordinator.writeContract({
        ...jobs,
        functionName: "reportAccuracy",
        args: [jobId, achieved],
      }),
    );
    await beforeFinalize(jobId);
    const receipt = await mined(
      stranger,
      stranger.writeContract({ ...poc, functionName: "finalize", args: [jobId] }),
    );
    return { jobId, receipt };
  }
  /** The work the job's terms give each node for the rounds it committed. */
  const worksOf = (rounds: number, quality: bigint[]): Work[] =>
    nodes.map((_, i) => {
      let committed = 0;
      for (let r = 0; r < rounds; r++) if (commits(i, r)) committed++;
      const steps = BigInt(committed * TERMS.stepsPerRound);
      return {
        rounds: BigInt(committed),
        steps,
        samples: steps * BigInt(TERMS.samplesPerStep),
        gpuSeconds: steps * BigInt(TERMS.secondsPerStep),
        quality: quality[i]!,
      };
    });

  await fx.step(
    t,
    "a full job pays each node the formula's reward and refunds the rest",
    async () => {
      const budget = parseEther("100");
      const rate = parseEther("0.001");
      const { jobId, receipt } = await runJob(budget, rate, 3, 600, async (id) => {
        const q = await mined(
          coordinator,
          coordinator.writeContract({
            ...poc,
            functionName: "setQuality",
            args: [id, n2, 15_000n],
          }),
        );
        assert.deepEqual(event(q, abis.proofs, "QualitySet"), {
          jobId: id,
          nodePubkey: n2,
          qualityBps: 15_000n,
        });
      });
      const expected = expectedRewards(budget, rate, worksOf(3, [10_000n, 15_000n, 10_000n]), true);
      const paid = expected.reduce((acc, r) => acc + total(r), 0n);
      assert.deepEqual(
        events(receipt, abis.proofs, "RewardCredited").map((l) => l.args),
        expected.map((r, i) => ({
          jobId,
          nodePubkey: nodes[i],
          operator: operators[i]!.account.address,
          ...r,
        })),
      );
      assert.deepEqual(event(receipt, abis.proofs, "JobFinalized"), {
        jobId,
        paid,
        refund: budget - paid,
      });
      assert.deepEqual(event(receipt, abis.jobs, "JobStatusChanged"), {
        jobId,
        status: JobStatus.Finalized,
      });
      // Worked example of node 1: 3 rounds x 10 steps x 20 s = 600 GPU-seconds at 0.001 ARTH,
      // +3.2% for 32 samples per step.
      assert.equal(expected[0]!.batchReward, parseEther("0.6192"));
      assert.ok(expected.every((r) => r.accuracyBonus > 0n));
      // Every node's operator and the job owner withdraw exactly what was credited.
      for (let i = 0; i < 3; i++) {
        const op = operators[i]!;
        assert.equal(await claimable(op), total(expected[i]!));
        const w = await mined(op, op.writeContract({ ...jobs, functionName: "withdraw" }));
        assert.deepEqual(event(w, abis.jobs, "Withdrawn"), {
          account: op.account.address,
          amount: total(expected[i]!),
        });
      }
      assert.equal(await claimable(dave), budget - paid);
      await mined(dave, dave.writeContract({ ...jobs, functionName: "withdraw" }));
      assert.equal(await owner.getBalance({ address: jobs.address }), 0n);
      assert.equal(await owner.readContract({ ...jobs, functionName: "totalEscrow" }), 0n);
      assert.equal(await owner.readContract({ ...jobs, functionName: "totalClaimable" }), 0n);
      // Reputation heard of one completed job and one successful deal per node.
      for (const n of nodes) {
        const rec = await owner.readContract({
          ...fx.c.reputation,
          functionName: "getRecord",
          args: [n],
        });
        assert.equal(rec.jobsCompleted, 1);
        assert.equal(rec.successfulDeals, 1);
      }
    },
  );

  await fx.step(
    t,
    "an under-budgeted base rate scales batch rewards and a missed target pays no bonus",
    async () => {
      const budget = parseEther("10");
      const rate = parseEther("0.1");
      const { jobId, receipt } = await runJob(budget, rate, 2, 400);
      const expected = expectedRewards(
        budget,
        rate,
        worksOf(2, [10_000n, 10_000n, 10_000n]),
        false,
      );
      const batchSum = expected.reduce((acc, r) => acc + r.batchReward, 0n);
      assert.ok(batchSum <= budget * 4_000n / BPS && batchSum > budget * 3_999n / BPS);
      assert.ok(expected.every((r) => r.accuracyBonus === 0n));
      assert.deepEqual(
        events(receipt, abis.proofs, "RewardCredited").map((l) => l.args),
        expected.map((r, i) => ({
          jobId,
          nodePubkey: nodes[i],
          operator: operators[i]!.account.address,
          ...r,
        })),
      );
      const paid = expected.reduce((acc, r) => acc + total(r), 0n);
      assert.equal(event(receipt, abis.proofs, "JobFinalized").refund, budget - paid);
      assert.equal(await claimable(dave), budget - paid);
    },
  );

  await fx.step(
    t,
    "finalize reverts with AlreadyFinalized the second time and commits stop",
    async () => {
      const { jobId } = await runJob(parseEther("1"), 0n, 1, 0);
      const args = await expectRevert(
        stranger.simulateContract({ ...poc, functionName: "finalize", args: [jobId] }),
        "PoC__AlreadyFinalized",
      );
      assert.deepEqual(args, [jobId]);
      const settled = await expectRevert(
        alice.simulateContract({
          ...poc,
          functionName: "commitRound",
          args: [roundCommit(jobId, n1, 5)],
        }),
        "PoC__AlreadySettled",
      );
      assert.deepEqual(settled, [jobId, n1]);
    },
  );

  await fx.step(
    t,
    "finalizeBatch settles in pieces, freezes work once tallied, and pays what finalize pays",
    async () => {
      // Reference: the same job settled in one call.
      const { jobId: whole } = await runJob(parseEther("3"), parseEther("0.0001"), 2, 600);
      const credited = async (jobId: Hex) =>
        (await owner.getContractEvents({
          ...poc,
          eventName: "RewardCredited",
          args: { jobId },
          fromBlock: 0n,
        })).map((e) =>
          e.args.batchReward! + e.args.stepReward! + e.args.roundReward! + e.args.accuracyBonus!
        );
      const expected = await credited(whole);

      const jobId = await startJob(parseEther("3"), {
        rounds: 2,
        baseRatePerSecond: parseEther("0.0001"),
        targetImprovementBps: 500,
        ...TERMS,
      });
      for (let r = 0; r < 2; r++) {
        for (let i = 0; i < 3; i++) if (commits(i, r)) await commit(i, jobId, r);
        await closeRound(jobId, r);
      }
      await mined(
        coordinator,
        coordinator.writeContract({ ...jobs, functionName: "reportAccuracy", args: [jobId, 600] }),
      );
      await expectRevert(
        stranger.simulateContract({ ...poc, functionName: "finalizeBatch", args: [jobId, 0n] }),
        "PoC__EmptyBatch",
      );
      // Two nodes tallied: their work is frozen, the third can still be changed.
      await mined(
        stranger,
        stranger.writeContract({ ...poc, functionName: "finalizeBatch", args: [jobId, 2n] }),
      );
      await expectRevert(
        coordinator.simulateContract({
          ...poc,
          functionName: "setQuality",
          args: [jobId, n1, 5_000n],
        }),
        "PoC__AlreadySettled",
      );
      const progress = await owner.readContract({
        ...poc,
        functionName: "settlementOf",
        args: [jobId],
      });
      assert.equal(progress.tallied, 2);
      assert.equal(progress.paid, 0);
      // Tally the last node and pay two; then pay the last one and finalize.
      await mined(
        stranger,
        stranger.writeContract({ ...poc, functionName: "finalizeBatch", args: [jobId, 3n] }),
      );
      assert.equal(await getJobStatus(jobId), JobStatus.Completed);
      const last = await mined(
        stranger,
        stranger.writeContract({ ...poc, functionName: "finalizeBatch", args: [jobId, 5n] }),
      );
      assert.equal(event(last, abis.proofs, "JobFinalized").jobId, jobId);
      assert.equal(await getJobStatus(jobId), JobStatus.Finalized);
      assert.deepEqual(await credited(jobId), expected);
    },
  );

  await fx.step(
    t,
    "finalize reverts with JobNotCompleted before the last round closes",
    async () => {
      const jobId = await startJob(parseEther("1"), { rounds: 2 });
      await closeRound(jobId, 0);
      const args = await expectRevert(
        stranger.simulateContract({ ...poc, functionName: "finalize", args: [jobId] }),
        "PoC__JobNotCompleted",
      );
      assert.deepEqual(args, [jobId, JobStatus.Running]);
    },
  );

  await fx.step(t, "commitRound records the result hash and counts the round", async () => {
    const jobId = await startJob(parseEther("1"));
    const c = roundCommit(jobId, n1, 0, { result: "same" });
    const receipt = await mined(
      alice,
      alice.writeContract({ ...poc, functionName: "commitRound", args: [c] }),
    );
    const result = keccak256(encodeAbiParameters(
      [{ type: "bytes32" }, { type: "bytes32" }, { type: "bytes32" }],
      [c.lossDigest, c.gradientDigest, c.weightsDigest],
    ));
    assert.equal(
      await owner.readContract({
        ...poc,
        functionName: "resultHash",
        args: [c.lossDigest, c.gradientDigest, c.weightsDigest],
      }),
      result,
    );
    assert.deepEqual(event(receipt, abis.proofs, "RoundCommitted"), {
      jobId,
      nodePubkey: n1,
      round: 0,
      resultHash: result,
      lossDigest: c.lossDigest,
      gradientDigest: c.gradientDigest,
      weightsDigest: c.weightsDigest,
      proofsRoot: c.proofsRoot,
    });
    assert.equal(
      await owner.readContract({ ...poc, functionName: "resultOf", args: [jobId, 0, n1] }),
      result,
    );
    await closeRound(jobId, 0);
    await commit(0, jobId, 1);
    const work = await owner.readContract({
      ...poc,
      functionName: "workOf",
      args: [jobId, n1, alice.account.address],
    });
    assert.deepEqual(work, {
      authorised: true,
      settled: false,
      qualityBps: 10_000,
      maxRounds: 2,
      rounds: 2,
      lastRound: 1,
    });
    const key = keccak256(encodeAbiParameters(
      [{ type: "bytes32" }, { type: "bytes32" }, { type: "address" }],
      [jobId, n1, alice.account.address],
    ));
    assert.equal(
      await owner.readContract({
        ...poc,
        functionName: "workKey",
        args: [jobId, n1, alice.account.address],
      }),
      key,
    );
  });

  await fx.step(
    t,
    "commitRound reverts with AlreadyCommitted for a second commit of a round",
    async () => {
      const jobId = await startJob(parseEther("1"));
      await commit(0, jobId, 0);
      const args = await expectRevert(
        alice.simulateContract({
          ...poc,
          functionName: "commitRound",
          args: [roundCommit(jobId, n1, 0, { result: "other" })],
        }),
        "PoC__AlreadyCommitted",
      );
      assert.deepEqual(args, [jobId, 0, n1]);
      await expectRevert(
        alice.simulateContract({
          ...poc,
          functionName: "commitRound",
          args: [{ ...roundCommit(jobId, n1, 0), weightsDigest: ZERO32 }],
        }),
        "PoC__EmptyCommit",
      );
    },
  );

  await fx.step(
    t,
    "commitRound reverts with NotAssigned for a sender that is not the operator",
    async () => {
      const jobId = await startJob(parseEther("1"));
      const args = await expectRevert(
        stranger.simulateContract({
          ...poc,
          functionName: "commitRound",
          args: [roundCommit(jobId, n1, 0)],
        }),
        "PoC__NotAssigned",
      );
      assert.deepEqual(args, [jobId, n1, stranger.account.address]);
      // Another assigned operator cannot commit for a node that is not theirs.
      await expectRevert(
        bob.simulateContract({
          ...poc,
          functionName: "commitRound",
          args: [roundCommit(jobId, n1, 0)],
        }),
        "PoC__NotAssigned",
      );
      await expectRevert(
        alice.simulateContract({
          ...poc,
          functionName: "commitRound",
          args: [roundCommit(b32("no job"), n1, 0)],
        }),
        "PoC__NotAssigned",
      );
    },
  );

  await fx.step(
    t,
    "commitRound takes only the open round: not a future one, not a closed one, none past the job",
    async () => {
      const jobId = await startJob(parseEther("1"), { rounds: 2 });
      // Round 7 of a 2-round job (or round 1 before round 0 closed) would be work that cannot
      // exist yet, and would inflate the node's round share.
      for (const round of [7, 1]) {
        const args = await expectRevert(
          alice.simulateContract({
            ...poc,
            functionName: "commitRound",
            args: [roundCommit(jobId, n1, round)],
          }),
          "PoC__RoundNotOpen",
        );
        assert.deepEqual(args, [round, 0]);
      }
      await closeRound(jobId, 0);
      // A closed round's commits are final: no late commit after seeing the others' results.
      await expectRevert(
        alice.simulateContract({
          ...poc,
          functionName: "commitRound",
          args: [roundCommit(jobId, n1, 0)],
        }),
        "PoC__RoundNotOpen",
      );
      await commit(0, jobId, 1);
      await closeRound(jobId, 1);
      const args = await expectRevert(
        bob.simulateContract({
          ...poc,
          functionName: "commitRound",
          args: [roundCommit(jobId, n2, 2)],
        }),
        "PoC__RoundNotOpen",
      );
      assert.deepEqual(args, [2, 2]);
    },
  );

  await fx.step(t, "verifyByRedundancy finds the majority result of a round", async () => {
    const jobId = await startJob(parseEther("1"));
    await commit(0, jobId, 0, { result: "honest" });
    await commit(1, jobId, 0, { result: "honest" });
    await commit(2, jobId, 0, { result: "lazy" });
    const honest = await owner.readContract({
      ...poc,
      functionName: "resultOf",
      args: [jobId, 0, n1],
    });
    assert.deepEqual(
      await owner.readContract({
        ...poc,
        functionName: "verifyByRedundancy",
        args: [jobId, 0, [...nodes]],
      }),
      [honest, 2n, true],
    );
    // Two of four named nodes is no strict majority; nodes without a commit are skipped.
    assert.deepEqual(
      await owner.readContract({
        ...poc,
        functionName: "verifyByRedundancy",
        args: [jobId, 0, [...nodes, b32("absent")]],
      }),
      [honest, 2n, false],
    );
    assert.deepEqual(
      await owner.readContract({
        ...poc,
        functionName: "verifyByRedundancy",
        args: [jobId, 1, [...nodes]],
      }),
      [`0x${"0".repeat(64)}`, 0n, false],
    );
  });

  await fx.step(
    t,
    "hashTrainProof is the EIP-712 digest lib/round/train_proof.ts signs",
    async () => {
      const proof = {
        jobId: b32("job"),
        step: 12n,
        lossDigest: b32("l"),
        gradientDigest: b32("g"),
        weightsDigest: b32("w"),
        timestamp: 1_700_000_000n,
        nodePubkey: n1,
      };
      const domain = arthaDomain(fx.net.chainId, poc.address);
      assert.equal(
        await owner.readContract({ ...poc, functionName: "hashTrainProof", args: [proof] }),
        hashTrainProof(proof, domain),
      );
      // Another deployment (or chain) gives another digest: proofs do not travel between them.
      assert.notEqual(
        hashTrainProof(proof, arthaDomain(fx.net.chainId, fx.addrs.jobs)),
        hashTrainProof(proof, domain),
      );
      assert.notEqual(
        hashTrainProof(proof, arthaDomain(1, poc.address)),
        hashTrainProof(proof, domain),
      );
    },
  );

  await fx.step(
    t,
    "setQuality reverts above 2x, for unassigned nodes and for strangers",
    async () => {
      const jobId = await startJob(parseEther("1"));
      const args = await expectRevert(
        coordinator.simulateContract({
          ...poc,
          functionName: "setQuality",
          args: [jobId, n1, 20_001n],
        }),
        "PoC__BpsOutOfRange",
      );
      assert.deepEqual(args, [20_001n]);
      const na = await expectRevert(
        coordinator.simulateContract({
          ...poc,
          functionName: "setQuality",
          args: [jobId, b32("x"), 1n],
        }),
        "PoC__NotAssigned",
      );
      assert.deepEqual(na, [jobId, b32("x"), zeroAddress]);
      await expectRevert(
        stranger.simulateContract({ ...poc, functionName: "setQuality", args: [jobId, n1, 1n] }),
        "Owned__NotAuthorised",
      );
    },
  );

  await fx.step(
    t,
    "penalise zeroes quality, slashes stake, and the node's share goes back to the job's owner",
    async () => {
      const budget = parseEther("20");
      const { jobId, receipt } = await runJob(budget, 0n, 1, 0, async (id) => {
        await expectRevert(
          coordinator.simulateContract({
            ...poc,
            functionName: "penalise",
            args: [id, n3, 10_001n, SlashReason.FakeGradients, false],
          }),
          "PoC__BpsOutOfRange",
        );
        await expectRevert(
          stranger.simulateContract({
            ...poc,
            functionName: "penalise",
            args: [id, n3, 5_000n, SlashReason.FakeGradients, false],
          }),
          "Owned__NotAuthorised",
        );
        const p = await mined(
          coordinator,
          coordinator.writeContract({
            ...poc,
            functionName: "penalise",
            args: [id, n3, 5_000n, SlashReason.FakeGradients, true],
          }),
        );
        assert.deepEqual(event(p, abis.proofs, "QualitySet"), {
          jobId: id,
          nodePubkey: n3,
          qualityBps: 0n,
        });
        assert.deepEqual(event(p, abis.proofs, "NodePenalised"), {
          jobId: id,
          nodePubkey: n3,
          slashed: parseEther("5"),
          reason: SlashReason.FakeGradients,
        });
        assert.equal(event(p, abis.registry, "NodeSlashed").amount, parseEther("5"));
        assert.equal(events(p, abis.registry, "NodeDeactivated").length, 1);
        const dims = events(p, abis.reputation, "ReputationUpdated").map((l) => l.args.dimension);
        assert.deepEqual(dims, [
          stringToHex("slash", { size: 32 }),
          stringToHex("proof", { size: 32 }),
        ]);
      });
      const expected = expectedRewards(budget, 0n, worksOf(1, [10_000n, 10_000n, 0n]), false);
      assert.equal(total(expected[2]!), 0n);
      assert.deepEqual(
        events(receipt, abis.proofs, "RewardCredited").map((l) => l.args),
        expected.map((r, i) => ({
          jobId,
          nodePubkey: nodes[i],
          operator: operators[i]!.account.address,
          ...r,
        })),
      );
      // No Credited event for the penalised node, and its reputation records a failed job.
      assert.equal(events(receipt, abis.jobs, "Credited").length, 3);
      const rec = await owner.readContract({
        ...fx.c.reputation,
        functionName: "getRecord",
        args: [n3],
      });
      assert.deepEqual([rec.jobsFailed, rec.totalDeals, rec.successfulDeals, rec.proofsChecked], [
        1,
        1,
        0,
        1,
      ]);
    },
  );

  await fx.step(
    t,
    "authorize and deauthorize revert with NotJobManager for other callers",
    async () => {
      for (const fn of ["authorize", "deauthorize"] as const) {
        const args = await expectRevert(
          owner.simulateContract({
            ...poc,
            functionName: fn,
            args: fn === "authorize"
              ? [b32("job"), n1, alice.account.address, 2]
              : [b32("job"), n1, alice.account.address],
          }),
          "PoC__NotJobManager",
        );
        assert.deepEqual(args, [owner.account.address]);
      }
    },
  );

  await fx.step(
    t,
    "finalize reverts with NotLinked and setLinks wires a fresh deployment",
    async () => {
      const deployed = await owner.waitForTransactionReceipt({
        hash: await owner.deployContract({ abi: abis.proofs, bytecode: proofOfComputeBytecode }),
      });
      const fresh = { address: deployed.contractAddress!, abi: abis.proofs } as const;
      await expectRevert(
        stranger.simulateContract({ ...fresh, functionName: "finalize", args: [b32("job")] }),
        "PoC__NotLinked",
      );
      await expectRevert(
        owner.simulateContract({
          ...fresh,
          functionName: "setLinks",
          args: [fx.addrs.jobs, zeroAddress, fx.addrs.reputation],
        }),
        "Owned__ZeroAddress",
      );
      await expectRevert(
        stranger.simulateContract({
          ...fresh,
          functionName: "setLinks",
          args: [fx.addrs.jobs, fx.addrs.registry, fx.addrs.reputation],
        }),
        "Owned__NotOwner",
      );
      const receipt = await mined(
        owner,
        owner.writeContract({
          ...fresh,
          functionName: "setLinks",
          args: [fx.addrs.jobs, fx.addrs.registry, fx.addrs.reputation],
        }),
      );
      assert.deepEqual(event(receipt, abis.proofs, "LinksSet"), {
        jobManager: fx.addrs.jobs,
        registry: fx.addrs.registry,
        reputation: fx.addrs.reputation,
      });
      assert.equal(
        await owner.readContract({ ...fresh, functionName: "jobManager" }),
        fx.addrs.jobs,
      );
      assert.equal(
        await owner.readContract({ ...fresh, functionName: "registry" }),
        fx.addrs.registry,
      );
      assert.equal(
        await owner.readContract({ ...fresh, functionName: "reputation" }),
        fx.addrs.reputation,
      );
    },
  );
  await fx.step(t, "the reward constants are the ones the TypeScript model uses", async () => {
    const expected = {
      BPS: 10_000n,
      BATCH_POOL_BPS: 4_000n,
      STEP_POOL_BPS: 2_000n,
      ROUND_POOL_BPS: 3_000n,
      ACCURACY_POOL_BPS: 1_000n,
      BATCH_BONUS_BPS_PER_SAMPLE: 10n,
      MAX_BATCH_BONUS_BPS: 2_000n,
      DEFAULT_QUALITY_BPS: 10_000n,
      MAX_QUALITY_BPS: 20_000n,
    } as const;
    for (const [functionName, value] of Object.entries(expected)) {
      assert.equal(
        await owner.readContract({ ...poc, functionName: functionName as keyof typeof expected }),
        value,
        functionName,
      );
    }
  });
});
