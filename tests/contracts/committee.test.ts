/**
 * VerificationManager committees: the spot-check rate setter, stored committee draws, attestations
 * by committee members and their settlement. Five nodes: A, B, C in groups 1-3, D and E share
 * group 4. Every node commits round 0; honest recomputation of any node gives `honestOf(node)`,
 * except C, whose commit is fake.
 */
import assert from "node:assert/strict";
import { type Hex, parseEther } from "viem";
import {
  abis,
  b32,
  event,
  expectRevert,
  mined,
  nodePubkey,
  registerNode,
  roundCommit,
  setupFixture,
  submitJob,
  ZERO32,
} from "./_fixture.ts";
import { resultHashOf } from "../../lib/verify/recompute.ts";
import type { ArthaClient } from "../../lib/chain/client.ts";

const STAKE = parseEther("10");
const Outcome = { None: 0, Honest: 1, Faked: 2, Undecided: 3 } as const;

Deno.test("VerificationManager committees", async (t) => {
  await using fx = await setupFixture({ accounts: 8 });
  const vm = { address: fx.addrs.verification, abi: abis.verification } as const;
  const co = fx.coordinator;
  const names = ["A", "B", "C", "D", "E"] as const;
  type Name = typeof names[number];
  const ops = Object.fromEntries(names.map((n, i) => [n, fx.clients[2 + i]!])) as Record<
    Name,
    ArthaClient
  >;
  const node = Object.fromEntries(names.map((n) => [n, nodePubkey(`node-${n}`)])) as Record<
    Name,
    Hex
  >;
  for (const n of names) await registerNode(fx, ops[n], { pubkey: node[n] });
  const jobId = await submitJob(fx, fx.clients[7]!, parseEther("5"), { nodesWanted: 5 });
  await mined(
    co,
    co.writeContract({ ...fx.c.jobs, functionName: "assign", args: [jobId, Object.values(node)] }),
  );
  await mined(
    co,
    co.writeContract({
      ...vm,
      functionName: "setTaskGroups",
      args: [jobId, Object.values(node), [1, 2, 3, 4, 4]],
    }),
  );
  const committed: Record<string, Hex> = {};
  for (const n of names) {
    const c = roundCommit(jobId, node[n], 0);
    committed[n] = resultHashOf(c.lossDigest, c.gradientDigest, c.weightsDigest);
    await mined(
      ops[n],
      ops[n].writeContract({ ...fx.c.proofs, functionName: "commitRound", args: [c] }),
    );
  }
  /** The coordinator closes round 0: its commits are final and its block seeds the draws. */
  const closeRound0 = () =>
    mined(
      co,
      co.writeContract({
        ...fx.c.jobs,
        functionName: "closeRound",
        args: [jobId, 0, "cp-0", b32("w-0")],
      }),
    );
  const honestOf = (n: Name) => n === "C" ? b32("honest-C") : committed[n]!;
  const attest = (v: Name, target: Name | Hex, hash: Hex, from: ArthaClient = ops[v]) =>
    from.writeContract({
      ...vm,
      functionName: "attest",
      args: [
        jobId,
        0,
        node[v],
        target.startsWith("0x") ? target as Hex : node[target as Name],
        hash,
      ],
    });
  const simAttest = (v: Name, target: Name | Hex, hash: Hex, from: ArthaClient = ops[v]) =>
    from.simulateContract({
      ...vm,
      functionName: "attest",
      args: [
        jobId,
        0,
        node[v],
        target.startsWith("0x") ? target as Hex : node[target as Name],
        hash,
      ],
      account: from.account,
    });
  const settle = (target: Name) =>
    mined(
      co,
      co.writeContract({
        ...vm,
        functionName: "settleAttestations",
        args: [jobId, 0, node[target]],
      }),
    );
  const simSettle = (target: Hex, round = 0) =>
    co.simulateContract({
      ...vm,
      functionName: "settleAttestations",
      args: [jobId, round, target],
      account: co.account,
    });
  const stakeOf = async (n: Name) =>
    (await co.readContract({ ...fx.c.registry, functionName: "getNode", args: [node[n]] })).stake;

  await fx.step(t, "test_setSpotCheckBps_ownerOnlyAndBounded", async () => {
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "setSpotCheckBps",
        args: [0n],
        account: co.account,
      }),
      "Owned__NotOwner",
    );
    await expectRevert(
      fx.owner.simulateContract({
        ...vm,
        functionName: "setSpotCheckBps",
        args: [10_001n],
        account: fx.owner.account,
      }),
      "Verification__InvalidConfig",
    );
    const r = await mined(
      fx.owner,
      fx.owner.writeContract({ ...vm, functionName: "setSpotCheckBps", args: [0n] }),
    );
    assert.equal(event(r, abis.verification, "SpotCheckBpsSet").bps, 0n);
    await closeRound0();
    const d = await mined(
      co,
      co.writeContract({ ...vm, functionName: "drawSpotCheck", args: [jobId, 0] }),
    );
    assert.equal(event(d, abis.verification, "SpotCheckDrawn").selected, false);
  });

  await fx.step(t, "test_attest_revertsWhenNotSpotChecked", async () => {
    await expectRevert(simAttest("A", "B", committed.B!), "Verification__NotSpotChecked");
  });

  await mined(
    fx.owner,
    fx.owner.writeContract({ ...vm, functionName: "setSpotCheckBps", args: [10_000n] }),
  );
  await closeRound0();
  await mined(co, co.writeContract({ ...vm, functionName: "drawSpotCheck", args: [jobId, 0] }));

  await fx.step(t, "test_attestAndSettle_revertWithoutCommittee", async () => {
    await expectRevert(simAttest("A", "B", committed.B!), "Verification__NoCommittee");
    await expectRevert(simSettle(node.B), "Verification__NoCommittee");
  });

  await fx.step(t, "test_requestCommittee_revertsWhenNotAuthorised", async () => {
    await expectRevert(
      ops.A.simulateContract({
        ...vm,
        functionName: "requestCommittee",
        args: [jobId, 0, Object.values(node), 10n],
        account: ops.A.account,
      }),
      "Owned__NotAuthorised",
    );
  });

  const requested = await mined(
    co,
    co.writeContract({
      ...vm,
      functionName: "requestCommittee",
      args: [jobId, 0, Object.values(node), 10n],
    }),
  );
  console.log(`  gas requestCommittee (5 candidates): ${requested.gasUsed}`);
  const { candidates, weights, size } = event(requested, abis.verification, "CommitteeRequested");
  const simDraw = (w: readonly bigint[] = weights!, from: ArthaClient = ops.A) =>
    from.simulateContract({
      ...vm,
      functionName: "drawCommittee",
      args: [jobId, 0, candidates!, w, size!],
      account: from.account,
    });

  await fx.step(t, "test_drawCommittee_waitsForTheRequestsBlock", async () => {
    // The request's block hash seeds the draw: unknown until that block has ended.
    await expectRevert(simDraw(), "Verification__TooEarly");
  });
  await fx.increaseTime(1);

  await fx.step(t, "test_drawCommittee_repeatsItsRequestExactly", async () => {
    await expectRevert(
      simDraw(weights!.map((w, i) => i === 0 ? w + 1n : w)),
      "Verification__RequestMismatch",
    );
    await expectRevert(
      ops.A.simulateContract({
        ...vm,
        functionName: "drawCommittee",
        args: [jobId, 1, candidates!, weights!, size!],
        account: ops.A.account,
      }),
      "Verification__NotRequested",
    );
  });

  // Anyone draws it, in a block after the request's.
  const drawn = await mined(ops.A, ops.A.writeContract((await simDraw()).request));
  console.log(`  gas drawCommittee (5 candidates, stored): ${drawn.gasUsed}`);

  await fx.step(t, "test_drawCommittee_storesOncePerRound", async () => {
    const [members, deadline] = await co.readContract({
      ...vm,
      functionName: "committeeOf",
      args: [jobId, 0],
    });
    assert.deepEqual([...members].sort(), Object.values(node).sort());
    assert.ok(deadline > await fx.now());
    await expectRevert(
      co.simulateContract({
        ...vm,
        functionName: "requestCommittee",
        args: [jobId, 0, Object.values(node), 10n],
        account: co.account,
      }),
      "Verification__AlreadyDrawn",
    );
    await expectRevert(simDraw(), "Verification__AlreadyDrawn");
  });

  await fx.step(t, "test_attest_revertsOnBadValidatorOrTarget", async () => {
    await expectRevert(
      ops.A.simulateContract({
        ...vm,
        functionName: "attest",
        args: [jobId, 0, b32("stranger"), node.B, committed.B!],
        account: ops.A.account,
      }),
      "Verification__NotInCommittee",
    );
    await expectRevert(simAttest("A", "B", committed.B!, ops.B), "Verification__NotOperator");
    await expectRevert(simAttest("A", "A", committed.A!), "Verification__NotValidatorOf");
    await expectRevert(simAttest("D", "E", committed.E!), "Verification__NotValidatorOf");
    await expectRevert(simAttest("A", "B", ZERO32), "Verification__ZeroResult");
    await expectRevert(simAttest("A", b32("uncommitted"), b32("x")), "Verification__NoCommit");
  });

  await fx.step(t, "test_attest_recordsOncePerValidatorAndTarget", async () => {
    const r = await mined(ops.A, attest("A", "B", committed.B!));
    console.log(`  gas attest: ${r.gasUsed}`);
    const e = event(r, abis.verification, "Attested");
    assert.equal(e.validatorNode, node.A);
    assert.equal(e.targetNode, node.B);
    assert.equal(e.recomputedResultHash, committed.B);
    assert.equal(
      await co.readContract({
        ...vm,
        functionName: "attestationOf",
        args: [jobId, 0, node.A, node.B],
      }),
      committed.B,
    );
    await expectRevert(simAttest("A", "B", committed.B!), "Verification__AlreadyAttested");
    await expectRevert(simSettle(node.B), "Verification__AttestationOpen");
  });

  await fx.step(t, "test_settleAttestations_keepsHonestTargetDespiteOneLiar", async () => {
    await mined(ops.A, attest("A", "B", honestOf("B")));
    await mined(ops.C, attest("C", "B", b32("lie")));
    await expectRevert(simSettle(node.B), "Verification__AttestationOpen"); // 1 of 4 agree
    await mined(ops.D, attest("D", "B", honestOf("B")));
    await expectRevert(simSettle(node.B), "Verification__AttestationOpen"); // 2 of 4: no strict majority
    await mined(ops.E, attest("E", "B", honestOf("B")));
    const r = await settle("B");
    console.log(`  gas settleAttestations (honest, 4 attested): ${r.gasUsed}`);
    const s = event(r, abis.verification, "AttestationsSettled");
    assert.equal(s.outcome, Outcome.Honest);
    assert.equal(s.agreeing, 3n);
    assert.equal(s.eligible, 4n);
    assert.equal(await stakeOf("B"), STAKE);
    assert.equal(await stakeOf("C"), STAKE, "a losing validator is not slashed");
    assert.equal(
      await co.readContract({ ...vm, functionName: "outcomeOf", args: [jobId, 0, node.B] }),
      Outcome.Honest,
    );
    await expectRevert(simSettle(node.B), "Verification__AttestationsSettled");
  });

  await fx.step(t, "test_settleAttestations_slashesFakeTargetHalf", async () => {
    for (const v of ["A", "B", "D"] as const) await mined(ops[v], attest(v, "C", honestOf("C")));
    const r = await settle("C");
    console.log(`  gas settleAttestations (faked, 3 attested): ${r.gasUsed}`);
    assert.equal(event(r, abis.verification, "AttestationsSettled").outcome, Outcome.Faked);
    assert.equal(event(r, abis.verification, "Penalised").slashBps, 5_000n);
    assert.equal(await stakeOf("C"), STAKE / 2n);
    await expectRevert(simAttest("E", "C", honestOf("C")), "Verification__AttestationsSettled");
  });

  await fx.step(t, "test_settleAttestations_undecidedAfterWindowWithoutMajority", async () => {
    await mined(ops.B, attest("B", "A", b32("x")));
    await mined(ops.C, attest("C", "A", b32("y")));
    await fx.increaseTime(3601);
    await expectRevert(simAttest("D", "A", committed.A!), "Verification__AttestationClosed");
    const r = await settle("A");
    assert.equal(event(r, abis.verification, "AttestationsSettled").outcome, Outcome.Undecided);
    assert.equal(await stakeOf("A"), STAKE);
    assert.equal(await stakeOf("B"), STAKE);
  });

  await fx.step(t, "test_settleAttestations_revertsWithoutCommit", async () => {
    await expectRevert(simSettle(b32("uncommitted")), "Verification__NoCommit");
  });
});
