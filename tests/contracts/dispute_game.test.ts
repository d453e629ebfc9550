/**
 * DisputeGame from the attacker's side: a missed move window in a dispute without a group
 * majority goes to the arbiter, never to a verdict on lateness alone.
 */
import assert from "node:assert/strict";
import { type Hex, parseEther } from "viem";
import type { ArthaClient } from "../../lib/chain/client.ts";
import { DisputePhase } from "../../lib/verify/dispute_chain.ts";
import { stepsProof, stepsRoot } from "../../lib/verify/steps_tree.ts";
import {
  abis,
  b32,
  event,
  events,
  mined,
  nodePubkey,
  registerNode,
  roundCommit,
  setupFixture,
  submitJob,
} from "./_fixture.ts";

const BOND = parseEther("1");
const STAKE = parseEther("10");

Deno.test("attacker: a job owner's node cannot take an honest job mate's pay by disputing it while it is offline", async (t) => {
  // Found in the contracts audit: without a group majority the side that missed a move window
  // lost 10% and its quality for the whole job, and a zero-quality share is refunded to the job's
  // owner. So an owner running one node of a two-node task group committed a made-up result in
  // the last round, disputed its honest mate, waited out one 30-minute window, and got every
  // round of the mate's work for free, its bond back and its node paid.
  await using fx = await setupFixture({ accounts: 6 });
  const co = fx.coordinator;
  const [owner, honest] = [fx.clients[2]!, fx.clients[3]!];
  const { jobs, proofs, registry, disputes } = fx.c;
  const stakeOf = async (n: Hex) =>
    (await co.readContract({ ...registry, functionName: "getNode", args: [n] })).stake;
  const commit = (client: ArthaClient, jobId: Hex, node: Hex, round: number, steps: Hex[]) =>
    mined(
      client,
      client.writeContract({
        ...proofs,
        functionName: "commitRound",
        args: [{ ...roundCommit(jobId, node, round), weightsDigest: steps.at(-1)! }],
      }),
    );
  const closeRound = (jobId: Hex, round: number) =>
    mined(
      co,
      co.writeContract({
        ...jobs,
        functionName: "closeRound",
        args: [jobId, round, `cp-${round}`, b32(`w-${round}`)],
      }),
    );

  // Prepare: the owner's node A and honest H form one task group of a 3-round job; both commit
  // rounds 0 and 1 alike, then round 2 differs and A disputes H.
  const [a, h] = [nodePubkey("owner-node"), nodePubkey("honest-node")];
  await registerNode(fx, owner, { pubkey: a });
  await registerNode(fx, honest, { pubkey: h });
  const budget = parseEther("10");
  const jobId = await submitJob(fx, owner, budget, {
    rounds: 3,
    nodesWanted: 1,
    redundancy: 2,
    stepsPerRound: 4,
  });
  await mined(co, co.writeContract({ ...jobs, functionName: "assign", args: [jobId, [a, h]] }));
  await mined(
    co,
    co.writeContract({
      ...fx.c.verification,
      functionName: "setTaskGroups",
      args: [jobId, [a, h], [1, 1]],
    }),
  );
  for (const r of [0, 1]) {
    const steps = [0, 1, 2, 3, 4].map((i) => b32(`r${r}-${i}`));
    await commit(owner, jobId, a, r, steps);
    await commit(honest, jobId, h, r, steps);
    await closeRound(jobId, r);
  }
  const right = [b32("w-1"), ...[1, 2, 3, 4].map((i) => b32(`right-${i}`))];
  const madeUp = [...right.slice(0, 4), b32("made-up-4")];
  await commit(honest, jobId, h, 2, right);
  await commit(owner, jobId, a, 2, madeUp);
  const c = roundCommit(jobId, a, 2);
  const ends = {
    lossDigest: c.lossDigest,
    gradientDigest: c.gradientDigest,
    weightsDigest: madeUp[4]!,
    stepsRoot: stepsRoot(madeUp),
    startDigest: madeUp[0]!,
    startProof: stepsProof(madeUp, 0),
    endProof: stepsProof(madeUp, 4),
  };
  const opened = await mined(
    owner,
    owner.writeContract({
      ...disputes,
      functionName: "open",
      args: [jobId, 2, a, h, ends],
      value: BOND,
    }),
  );
  const id = event(opened, abis.disputes, "DisputeOpened").disputeId;

  await t.step(
    "H misses its window: the dispute goes to the arbiter, H loses nothing",
    async () => {
      await fx.increaseTime(30 * 60 + 1);
      const r = await mined(
        owner,
        owner.writeContract({ ...disputes, functionName: "timeout", args: [id] }),
      );
      const late = event(r, abis.disputes, "DisputeTimedOut");
      assert.deepEqual([late.challengerLate, late.defenderLate], [false, true]);
      assert.equal(await stakeOf(h), STAKE);
      const d = await co.readContract({ ...disputes, functionName: "disputeOf", args: [id] });
      assert.equal(d.phase, DisputePhase.Unresolved);
      assert.ok(d.byResult);
    },
  );

  await t.step(
    "the arbiter states the round's right result: A loses, H is paid for every round",
    async () => {
      const rightResult = await co.readContract({
        ...proofs,
        functionName: "resultOf",
        args: [jobId, 2, h],
      });
      await mined(
        co,
        co.writeContract({ ...disputes, functionName: "arbitrate", args: [id, rightResult] }),
      );
      assert.equal(await stakeOf(a), STAKE / 2n);
      assert.equal(await stakeOf(h), STAKE);
      const bond = await co.readContract({
        ...disputes,
        functionName: "claimableOf",
        args: [honest.account.address],
      });
      assert.equal(bond, BOND, "the made-up dispute's bond goes to the defender");
      await closeRound(jobId, 2);
      const fin = await mined(
        co,
        co.writeContract({ ...proofs, functionName: "finalize", args: [jobId] }),
      );
      const paid = new Map(
        events(fin, abis.proofs, "RewardCredited").map((l) => [
          l.args.nodePubkey!,
          l.args.batchReward! + l.args.stepReward! + l.args.roundReward! + l.args.accuracyBonus!,
        ]),
      );
      assert.equal(paid.get(a), 0n);
      assert.ok(paid.get(h)! > 0n, "the honest node is paid");
      const ownerGets = await co.readContract({
        ...jobs,
        functionName: "claimableOf",
        args: [owner.account.address],
      });
      assert.ok(ownerGets < budget, "the owner did not get the honest node's work for free");
    },
  );
});
