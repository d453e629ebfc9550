/**
 * VerificationManager and DisputeGame: challenges and gradient samples answered with Merkle
 * openings, timeouts, redundancy settlement, copycats, offence escalation, committees, spot
 * checks, and the bisection dispute game. Six nodes in two task groups; node C (group 1) commits
 * a different update than A and B; F (group 2) copies A.
 */
import assert from "node:assert/strict";
import { type Hex, keccak256, parseEther } from "viem";
import {
  abis,
  b32,
  event,
  expectRevert,
  mined,
  nodePubkey,
  registerNode,
  setupFixture,
  submitJob,
} from "./_fixture.ts";
import { merkleRoot } from "../../lib/crypto/merkle.ts";
import { STEP_RECORD_BYTES } from "../../lib/round/local_training.ts";
import { stepOpening } from "../../lib/verify/responder.ts";
import { openChunks } from "../../lib/verify/chunk_openings.ts";
import { stepsProof, stepsRoot } from "../../lib/verify/steps_tree.ts";
import type { ArthaClient } from "../../lib/chain/client.ts";

const STAKE = parseEther("10");
const bytesOf = (fill: number) => new Uint8Array(3 * 4096 + 100).fill(fill);
const honestSteps: Hex[] = [0, 1, 2, 3, 4].map((i) => b32(`step-${i}`));
const cheatSteps: Hex[] = [
  honestSteps[0]!,
  honestSteps[1]!,
  b32("bad-2"),
  b32("bad-3"),
  b32("bad-4"),
];

Deno.test("VerificationManager and DisputeGame", async (t) => {
  await using fx = await setupFixture({ accounts: 9 });
  const vm = { address: fx.addrs.verification, abi: abis.verification } as const;
  const dg = { address: fx.addrs.disputes, abi: abis.disputes } as const;
  const names = ["A", "B", "C", "D", "E", "F"] as const;
  const ops = names.map((_, i) => fx.clients[2 + i]!);
  const node = Object.fromEntries(names.map((n) => [n, nodePubkey(`node-${n}`)])) as Record<
    string,
    Hex
  >;
  for (let i = 0; i < names.length; i++) {
    await registerNode(fx, ops[i]!, { pubkey: node[names[i]!]! });
  }
  const jobId = await submitJob(fx, fx.clients[8]!, parseEther("5"), {
    nodesWanted: 6,
    stepsPerRound: 4,
  });
  const co = fx.coordinator;
  await mined(
    co,
    co.writeContract({ ...fx.c.jobs, functionName: "assign", args: [jobId, Object.values(node)] }),
  );
  await mined(
    co,
    co.writeContract({
      ...vm,
      functionName: "setTaskGroups",
      args: [jobId, Object.values(node), [1, 1, 1, 2, 2, 2]],
    }),
  );
  const honest = { bytes: bytesOf(1), loss: b32("loss-h"), weights: honestSteps[4]! };
  const cheat = { bytes: bytesOf(2), loss: b32("loss-c"), weights: cheatSteps[4]! };
  const other = { bytes: bytesOf(3), loss: b32("loss-o"), weights: b32("w-o") };
  const plan: Record<string, typeof honest> = {
    A: honest,
    B: honest,
    C: cheat,
    D: other,
    E: other,
    F: honest,
  };
  const digests = (u: typeof honest) => ({
    lossDigest: u.loss,
    gradientDigest: merkleRoot(u.bytes),
    weightsDigest: u.weights,
  });
  for (let i = 0; i < names.length; i++) {
    const u = plan[names[i]!]!;
    await mined(
      ops[i]!,
      ops[i]!.writeContract({
        ...fx.c.proofs,
        functionName: "commitRound",
        args: [{
          jobId,
          round: 0,
          nodePubkey: node[names[i]!]!,
          ...digests(u),
          proofsRoot: b32("proofs"),
        }],
      }),
    );
  }
  const stakeOf = async (
    n: string,
  ) => (await co.readContract({ ...fx.c.registry, functionName: "getNode", args: [node[n]!] }));
  /** Closes `round` of the job (the coordinator accepts its aggregate). */
  const closeRound = (round: number) =>
    mined(
      co,
      co.writeContract({
        ...fx.c.jobs,
        functionName: "closeRound",
        args: [jobId, round, `cp-${round}`, b32(`w-${round}`)],
      }),
    );
  const challenge = async (n: string, count?: { chunks: bigint; bps: bigint }) => {
    const r = await mined(
      co,
      count
        ? co.writeContract({
          ...vm,
          functionName: "requestGradientSample",
          args: [jobId, 0, node[n]!, count.chunks, count.bps],
        })
        : co.writeContract({
          ...vm,
          functionName: "issueChallenge",
          args: [jobId, 0, node[n]!],
        }),
    );
    console.log(`  gas ${count ? "requestGradientSample" : "issueChallenge"}: ${r.gasUsed}`);
    return event(r, abis.verification, "ChallengeIssued");
  };
  const respond = (
    client: ArthaClient,
    id: bigint,
    u: typeof honest,
    o: ReturnType<typeof openChunks>,
  ) => {
    const d = digests(u);
    return client.writeContract({
      ...vm,
      functionName: "respond",
      args: [id, d.lossDigest, d.gradientDigest, d.weightsDigest, o.chunks, o.proofs],
    });
  };

  await fx.step(t, "test_respond_acceptsHonestOpenings", async () => {
    const c = await challenge("A");
    const r = await mined(
      ops[0]!,
      respond(ops[0]!, c.challengeId, honest, openChunks(honest.bytes, c.seed, 1)),
    );
    console.log(`  gas respond (1 chunk): ${r.gasUsed}`);
    assert.equal(event(r, abis.verification, "ChallengeAnswered").nodePubkey, node.A);
    assert.ok(c.step < 4);
    const s = await challenge("A", { chunks: 100n, bps: 500n });
    assert.equal(s.count, 5);
    const r2 = await mined(
      ops[0]!,
      respond(ops[0]!, s.challengeId, honest, openChunks(honest.bytes, s.seed, 5)),
    );
    console.log(`  gas respond (5 chunks): ${r2.gasUsed}`);
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "timeout",
        args: [s.challengeId],
        account: co.account,
      }),
      "Verification__ChallengeClosed",
    );
  });

  await fx.step(t, "test_respondStep_opensOneStepRecord_andRejectsBadAnswers", async () => {
    // Prepare: A commits round 1 with lossDigest = the Merkle root of four 68-byte step records.
    const records = new Uint8Array(4 * STEP_RECORD_BYTES).map((_, i) => (i * 31) & 0xff);
    const stepDigests = { ...digests(honest), lossDigest: merkleRoot(records, STEP_RECORD_BYTES) };
    await closeRound(0);
    await mined(
      ops[0]!,
      ops[0]!.writeContract({
        ...fx.c.proofs,
        functionName: "commitRound",
        args: [{
          jobId,
          round: 1,
          nodePubkey: node.A!,
          ...stepDigests,
          proofsRoot: b32("proofs"),
        }],
      }),
    );
    const issued = await mined(
      co,
      co.writeContract({ ...vm, functionName: "issueStepChallenge", args: [jobId, 1, node.A!] }),
    );
    console.log(`  gas issueStepChallenge: ${issued.gasUsed}`);
    const c = event(issued, abis.verification, "ChallengeIssued");
    assert.equal(c.count, 0);
    const { record, proof } = stepOpening(records, c.step);
    const answer = (rec: Hex, prf: Hex[], d = stepDigests) =>
      ops[0]!.simulateContract({
        ...vm,
        functionName: "respondStep",
        args: [c.challengeId, d.lossDigest, d.gradientDigest, d.weightsDigest, rec, prf],
      });
    // Execute + Assert: every bad answer reverts by name; the honest one opens the step.
    await expectRevert(answer(`0x${"00".repeat(10)}`, proof), "Verification__BadStepRecord");
    await expectRevert(answer(record, [b32("x"), ...proof.slice(1)]), "Verification__BadProof");
    await expectRevert(
      answer(record, proof, { ...stepDigests, lossDigest: b32("other") }),
      "Verification__DigestMismatch",
    );
    await expectRevert(
      ops[0]!.simulateContract({
        ...vm,
        functionName: "respond",
        args: [
          c.challengeId,
          stepDigests.lossDigest,
          stepDigests.gradientDigest,
          stepDigests.weightsDigest,
          [],
          [],
        ],
      }),
      "Verification__StepChallenge",
    );
    const chunkChallenge = await challenge("A");
    await expectRevert(
      ops[0]!.simulateContract({
        ...vm,
        functionName: "respondStep",
        args: [
          chunkChallenge.challengeId,
          stepDigests.lossDigest,
          stepDigests.gradientDigest,
          stepDigests.weightsDigest,
          record,
          proof,
        ],
      }),
      "Verification__NotStepChallenge",
    );
    const ok = await mined(
      ops[0]!,
      ops[0]!.writeContract({
        ...vm,
        functionName: "respondStep",
        args: [
          c.challengeId,
          stepDigests.lossDigest,
          stepDigests.gradientDigest,
          stepDigests.weightsDigest,
          record,
          proof,
        ],
      }),
    );
    console.log(`  gas respondStep: ${ok.gasUsed}`);
    const revealed = event(ok, abis.verification, "StepRevealed");
    assert.equal(revealed.step, c.step);
    assert.equal(revealed.record, record);
  });

  await fx.step(t, "test_respond_revertsOnBadAnswers", async () => {
    const c = await challenge("A");
    const o = openChunks(honest.bytes, c.seed, 1);
    const sim = (u: typeof honest, open: typeof o, id = c.challengeId) => {
      const d = digests(u);
      return co.simulateContract({
        ...vm,
        functionName: "respond",
        args: [id, d.lossDigest, d.gradientDigest, d.weightsDigest, open.chunks, open.proofs],
        account: co.account,
      });
    };
    await expectRevert(
      sim(cheat, openChunks(cheat.bytes, c.seed, 1)),
      "Verification__DigestMismatch",
    );
    const bad = { ...o, proofs: [[b32("x"), ...o.proofs[0]!.slice(1)]] };
    await expectRevert(sim(honest, bad), "Verification__BadProof");
    await expectRevert(
      sim(honest, openChunks(honest.bytes, c.seed, 2)),
      "Verification__WrongCount",
    );
    await expectRevert(sim(honest, o, 999n), "Verification__UnknownChallenge");
    await fx.increaseTime(3601);
    await expectRevert(sim(honest, o), "Verification__WindowClosed");
  });

  await fx.step(t, "test_issue_revertsWhenUnauthorisedOrNoCommitOrBadSample", async () => {
    await expectRevert(
      ops[0]!.simulateContract({
        ...vm,
        functionName: "issueChallenge",
        args: [jobId, 0, node.B!],
        account: ops[0]!.account,
      }),
      "Owned__NotAuthorised",
    );
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "issueChallenge",
        args: [jobId, 1, node.B!],
        account: co.account,
      }),
      "Verification__NoCommit",
    );
    for (const [chunks, bps] of [[100n, 50n], [100n, 600n], [0n, 100n]]) {
      await expectRevert(
        co.simulateContract({
          ...vm,
          functionName: "requestGradientSample",
          args: [jobId, 0, node.B!, chunks!, bps!],
          account: co.account,
        }),
        "Verification__BadSample",
      );
    }
    // A large update's 5% is capped at 16 chunks: 64 of 4 KiB with their proofs passed the
    // 128 KiB a transaction may have, and the honest node could not send its answer.
    const big = await mined(
      co,
      co.writeContract({
        ...vm,
        functionName: "requestGradientSample",
        args: [jobId, 0, node.B!, 10_000n, 500n],
      }),
    );
    assert.equal(event(big, abis.verification, "ChallengeIssued").count, 16);
  });

  await fx.step(t, "test_timeout_slashesTenPercent", async () => {
    const c = await challenge("B");
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "timeout",
        args: [c.challengeId],
        account: co.account,
      }),
      "Verification__WindowOpen",
    );
    await fx.increaseTime(3601);
    const r = await mined(
      co,
      co.writeContract({ ...vm, functionName: "timeout", args: [c.challengeId] }),
    );
    console.log(`  gas timeout: ${r.gasUsed}`);
    assert.equal((await stakeOf("B")).stake, STAKE - STAKE / 10n);
  });

  await fx.step(t, "test_settleRedundancy_slashesOutlierHalf_andCopycatAll", async () => {
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "settleRedundancy",
        args: [jobId, 0, 1],
        account: co.account,
      }),
      "Verification__RoundOpen",
    );
    await closeRound(0);
    const r = await mined(
      co,
      co.writeContract({ ...vm, functionName: "settleRedundancy", args: [jobId, 0, 1] }),
    );
    console.log(`  gas settleRedundancy (3 members): ${r.gasUsed}`);
    assert.equal(event(r, abis.verification, "RedundancySettled").outliers, 1n);
    assert.equal((await stakeOf("C")).stake, STAKE / 2n);
    assert.equal((await stakeOf("A")).stake, STAKE);
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "settleRedundancy",
        args: [jobId, 0, 1],
        account: co.account,
      }),
      "Verification__AlreadySettled",
    );
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "reportCopycat",
        args: [jobId, 0, node.F!, node.A!],
        account: co.account,
      }),
      "Verification__NotCopycat",
    );
    await mined(
      co,
      co.writeContract({ ...vm, functionName: "settleRedundancy", args: [jobId, 0, 2] }),
    );
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "reportCopycat",
        args: [jobId, 0, node.A!, node.F!],
        account: co.account,
      }),
      "Verification__NotCopycat",
    );
    const c = await mined(
      co,
      co.writeContract({
        ...vm,
        functionName: "reportCopycat",
        args: [jobId, 0, node.F!, node.A!],
      }),
    );
    console.log(`  gas reportCopycat: ${c.gasUsed}`);
    const f = await stakeOf("F");
    assert.equal(f.stake, 0n);
    assert.equal(f.active, false);
  });

  await fx.step(t, "test_settleRedundancy_revertsWithoutConsensus", async () => {
    await closeRound(0);
    await closeRound(1);
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "settleRedundancy",
        args: [jobId, 1, 1],
        account: co.account,
      }),
      "Verification__NoConsensus",
    );
  });

  await fx.step(t, "test_penalties_escalateAtThreeOffences", async () => {
    // A fake aggregate (once per round), then two unanswered challenges: the third offence takes
    // the rest of the stake and deactivates the node.
    const args = [jobId, 0, node.D!] as const;
    await mined(co, co.writeContract({ ...vm, functionName: "penaliseAggregator", args }));
    await expectRevert(
      co.simulateContract({ ...vm, functionName: "penaliseAggregator", args, account: co.account }),
      "Verification__NotAggregatorOffence",
    );
    for (let i = 0; i < 2; i++) {
      const issued = await mined(
        co,
        co.writeContract({ ...vm, functionName: "issueChallenge", args: [jobId, 0, node.D!] }),
      );
      const { challengeId } = event(issued, abis.verification, "ChallengeIssued");
      await fx.increaseTime(2 * 3600);
      await mined(co, co.writeContract({ ...vm, functionName: "timeout", args: [challengeId!] }));
    }
    const d = await stakeOf("D");
    assert.equal(d.stake, 0n);
    assert.equal(d.active, false);
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "penaliseFor",
        args: [jobId, node.D!, 1000n, 1, false],
        account: co.account,
      }),
      "Verification__NotDisputeGame",
    );
  });

  await fx.step(t, "test_setTaskGroups_reverts", async () => {
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "setTaskGroups",
        args: [jobId, [node.A!], [1, 2]],
        account: co.account,
      }),
      "Verification__BadGroups",
    );
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "setTaskGroups",
        args: [jobId, [node.A!], [0]],
        account: co.account,
      }),
      "Verification__BadGroups",
    );
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "setTaskGroups",
        args: [jobId, [node.A!], [3]],
        account: co.account,
      }),
      "Verification__AlreadyGrouped",
    );
  });

  await fx.step(t, "test_committee_isWeightedDistinctAndBounded", async () => {
    const candidates = [...Object.values(node), node.A!];
    // A committee serves a spot-checked round only.
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "requestCommittee",
        args: [jobId, 0, candidates, 10n],
        account: co.account,
      }),
      "Verification__NotSpotChecked",
    );
    await mined(
      fx.owner,
      fx.owner.writeContract({ ...vm, functionName: "setSpotCheckBps", args: [10_000n] }),
    );
    await closeRound(0);
    await mined(co, co.writeContract({ ...vm, functionName: "drawSpotCheck", args: [jobId, 0] }));
    for (const size of [9n, 21n]) {
      await expectRevert(
        co.simulateContract({
          ...vm,
          functionName: "requestCommittee",
          args: [jobId, 0, candidates, size],
          account: co.account,
        }),
        "Verification__BadCommitteeSize",
      );
    }
    const q = await mined(
      co,
      co.writeContract({
        ...vm,
        functionName: "requestCommittee",
        args: [jobId, 0, candidates, 10n],
      }),
    );
    const { weights } = event(q, abis.verification, "CommitteeRequested");
    assert.equal(weights!.at(-1), 0n, "a repeated candidate weighs nothing");
    assert.equal(weights!.filter((w) => w > 0n).length, 6, "six eligible, distinct");
    const r = await mined(
      co,
      co.writeContract({
        ...vm,
        functionName: "drawCommittee",
        args: [jobId, 0, candidates, weights!, 10n],
      }),
    );
    console.log(`  gas requestCommittee + drawCommittee (7 candidates): ${q.gasUsed + r.gasUsed}`);
    const members = event(r, abis.verification, "CommitteeDrawn").members!;
    assert.equal(new Set(members).size, 6);
    // Only nodes with work in the round: a coordinator naming its own nodes from outside the
    // round (here: the five without a round-1 commit; A, the one with, was slashed out above)
    // cannot seat them.
    await closeRound(1);
    await mined(co, co.writeContract({ ...vm, functionName: "drawSpotCheck", args: [jobId, 1] }));
    const q1 = await mined(
      co,
      co.writeContract({
        ...vm,
        functionName: "requestCommittee",
        args: [jobId, 1, candidates, 10n],
      }),
    );
    const w1 = event(q1, abis.verification, "CommitteeRequested").weights!;
    assert.ok(w1.every((w) => w === 0n), "nobody without a round-1 commit (or slashed out) weighs");
  });

  await fx.step(t, "test_spotCheck_drawnOncePerClosedRound", async () => {
    const long = await submitJob(fx, fx.clients[8]!, parseEther("1"), { rounds: 40 });
    await mined(
      co,
      co.writeContract({ ...fx.c.jobs, functionName: "assign", args: [long, [node.A!]] }),
    );
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "drawSpotCheck",
        args: [long, 0],
        account: co.account,
      }),
      "Verification__RoundOpen",
    );
    let selected = 0;
    for (let round = 0; round < 40; round++) {
      await mined(
        co,
        co.writeContract({
          ...fx.c.jobs,
          functionName: "closeRound",
          args: [long, round, "cp", b32(round)],
        }),
      );
      const r = await mined(
        co,
        co.writeContract({ ...vm, functionName: "drawSpotCheck", args: [long, round] }),
      );
      if (event(r, abis.verification, "SpotCheckDrawn").selected) selected++;
    }
    assert.ok(selected < 15, `spot checks ${selected}/40`);
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "drawSpotCheck",
        args: [long, 0],
        account: co.account,
      }),
      "Verification__AlreadyDrawn",
    );
  });

  const ends = (u: typeof honest, steps: Hex[]) => ({
    ...digests(u),
    stepsRoot: stepsRoot(steps),
    startDigest: steps[0]!,
    startProof: stepsProof(steps, 0),
    endProof: stepsProof(steps, 4),
  });
  const BOND = parseEther("1");
  const openDispute = () =>
    mined(
      ops[0]!,
      ops[0]!.writeContract({
        ...dg,
        functionName: "open",
        args: [jobId, 0, node.A!, node.C!, ends(honest, honestSteps)],
        value: BOND,
      }),
    );
  const disputeClaimable = (client: ArthaClient) =>
    co.readContract({ ...dg, functionName: "claimableOf", args: [client.account.address] });

  await fx.step(t, "test_dispute_bisectsToFirstDifferingStep_andMajorityDecides", async () => {
    const o = await openDispute();
    console.log(`  gas dispute open: ${o.gasUsed}`);
    const id = event(o, abis.disputes, "DisputeOpened").disputeId;
    const d = await mined(
      ops[2]!,
      ops[2]!.writeContract({ ...dg, functionName: "defend", args: [id, ends(cheat, cheatSteps)] }),
    );
    console.log(`  gas dispute defend: ${d.gasUsed}`);
    const move = async (client: ArthaClient, challengerSide: boolean, steps: Hex[]) => {
      const mid = await co.readContract({ ...dg, functionName: "midpoint", args: [id] });
      const r = await mined(
        client,
        client.writeContract({
          ...dg,
          functionName: "reveal",
          args: [id, challengerSide, steps[mid]!, stepsProof(steps, mid)],
        }),
      );
      console.log(`  gas dispute reveal: ${r.gasUsed}`);
      // Each side's move is in the logs, the first of a pair too (it changed state silently).
      const revealed = event(r, abis.disputes, "Revealed");
      assert.deepEqual(
        [revealed.disputeId, revealed.challengerSide, revealed.mid, revealed.digest],
        [id, challengerSide, mid, steps[mid]!],
      );
    };
    await move(ops[0]!, true, honestSteps); // mid 2: differ
    await move(ops[2]!, false, cheatSteps);
    await move(ops[0]!, true, honestSteps); // mid 1: agree -> [1, 2], settled
    await move(ops[2]!, false, cheatSteps);
    const s = await co.readContract({ ...dg, functionName: "disputeOf", args: [id] });
    assert.equal(s.phase, 3);
    assert.equal(s.lo, 1);
    assert.equal(s.hi, 2);
    assert.equal((await stakeOf("C")).stake, STAKE / 2n);
    assert.equal((await stakeOf("A")).stake, STAKE);
    // The challenger was right: its bond comes back.
    assert.equal(await disputeClaimable(ops[0]!), BOND);
  });

  await fx.step(t, "test_dispute_silentDefender_majorityStillDecides", async () => {
    const id = event(await openDispute(), abis.disputes, "DisputeOpened").disputeId;
    await expectRevert(
      co.simulateContract({ ...dg, functionName: "timeout", args: [id], account: co.account }),
      "Dispute__WindowOpen",
    );
    await fx.increaseTime(31 * 60);
    await mined(co, co.writeContract({ ...dg, functionName: "timeout", args: [id] }));
    // The group (A, B honest; C not) has a strict majority, so it decides: C loses 50%.
    assert.equal((await stakeOf("C")).stake, STAKE / 2n);
    assert.equal((await stakeOf("A")).stake, STAKE);
    assert.equal(await disputeClaimable(ops[0]!), BOND);
  });

  await fx.step(t, "test_dispute_reverts", async () => {
    const sim = (client: ArthaClient, fn: "open", args: unknown[], value = BOND) =>
      client.simulateContract({
        ...dg,
        functionName: fn,
        // deno-lint-ignore no-explicit-any
        args: args as any,
        account: client.account,
        value,
      });
    const wrong = await expectRevert(
      sim(ops[0]!, "open", [jobId, 0, node.A!, node.C!, ends(honest, honestSteps)], 0n),
      "Dispute__WrongBond",
    );
    assert.deepEqual(wrong, [0n, BOND]);
    await expectRevert(
      sim(ops[1]!, "open", [jobId, 0, node.A!, node.C!, ends(honest, honestSteps)]),
      "Dispute__NotParty",
    );
    await expectRevert(
      sim(ops[0]!, "open", [jobId, 0, node.A!, node.B!, ends(honest, honestSteps)]),
      "Dispute__NoConflict",
    );
    await expectRevert(
      sim(ops[0]!, "open", [jobId, 0, node.A!, node.D!, ends(honest, honestSteps)]),
      "Dispute__NoConflict",
    );
    await expectRevert(
      sim(ops[0]!, "open", [jobId, 1, node.A!, node.C!, ends(honest, honestSteps)]),
      "Dispute__RoundAnchored",
    );
    await expectRevert(
      sim(ops[0]!, "open", [jobId, 0, node.A!, node.C!, {
        ...ends(honest, honestSteps),
        endProof: stepsProof(honestSteps, 3),
      }]),
      "Dispute__BadOpening",
    );
    await expectRevert(
      sim(ops[0]!, "open", [jobId, 0, node.A!, node.C!, ends(cheat, honestSteps)]),
      "Dispute__DigestMismatch",
    );
    const id = event(await openDispute(), abis.disputes, "DisputeOpened").disputeId;
    await expectRevert(
      sim(ops[0]!, "open", [jobId, 0, node.A!, node.C!, ends(honest, honestSteps)]),
      "Dispute__AlreadyOpen",
    );
    await expectRevert(
      ops[0]!.simulateContract({
        ...dg,
        functionName: "reveal",
        args: [id, true, honestSteps[2]!, stepsProof(honestSteps, 2)],
        account: ops[0]!.account,
      }),
      "Dispute__WrongPhase",
    );
    await expectRevert(
      ops[0]!.simulateContract({
        ...dg,
        functionName: "defend",
        args: [id, ends(cheat, cheatSteps)],
        account: ops[0]!.account,
      }),
      "Dispute__NotParty",
    );
    assert.equal(keccak256("0x00").length, 66);
  });
});
