/**
 * Disputes end to end on anvil with real Workers: a redundancy-2 job of one task group (an honest
 * Worker and a liar). The liar commits a fake final weights digest and opens a dispute with a
 * made-up steps tree (honest up to step 1, invented after). The honest Worker's tick defends and
 * bisects by itself; with two nodes there is no majority, so the dispute ends Unresolved at one
 * step and the coordinator's aggregate call recomputes it and arbitrates. The honest node keeps
 * its stake and earns the bond; the liar loses 50%.
 */
import assert from "node:assert/strict";
import { type Hex, keccak256, stringToHex } from "viem";
import { startDevnet } from "../../lib/chain/devnet.ts";
import { abis } from "../../lib/chain/contracts.ts";
import { createArthaClient } from "../../lib/chain/client.ts";
import { commitRound } from "../../lib/chain/commit_round.ts";
import { createTrainer } from "../../kernel/train_step.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import type { LocalResult } from "../../lib/round/local_training.ts";
import {
  disputeEnds,
  DisputePhase,
  openDispute,
  readDispute,
} from "../../lib/verify/dispute_chain.ts";
import { DisputeResponder } from "../../lib/verify/dispute_responder.ts";
import type { ArbitrationRecord } from "../../lib/coordinator/disputes.ts";
import { nodeState, slashesOf, startVerifyRun } from "./_verify_job.ts";

const STEPS = 8;
const FAKE_GRADIENTS = 2;

Deno.test({
  name: "an honest worker defends a made-up dispute by itself; the arbiter slashes the liar",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using net = await startDevnet({ accounts: 5 });
    const run = await startVerifyRun(net, createTrainer(loadKernel()), {
      nodes: 2,
      shards: 1,
      rounds: 1,
      localSteps: STEPS,
      verification: { redundancy: 2, challengeRate: 0, sampleRate: 0 },
    });
    try {
      const { addresses, jobId, validator } = run;
      const [honest, liar] = run.workers as [typeof run.workers[0], typeof run.workers[0]];
      // startVerifyRun gives worker i the account after the coordinator's and the owner's.
      const operator = (i: number) =>
        createArthaClient({
          rpcUrl: net.rpcUrl,
          chainId: net.chainId,
          account: net.accounts[2 + i]!,
        });
      const [honestOp, liarOp] = [operator(0), operator(1)];
      const sent = (c: typeof honestOp) => c.getTransactionCount({ address: c.account.address });
      const dispute = () => readDispute(validator, { addresses, disputeId: id });
      const stakeBefore = (await nodeState(run, honest.nodePubkey)).stake;
      const liarStake = (await nodeState(run, liar.nodePubkey)).stake;

      // The honest worker trains, commits and delivers round 0 (its result is captured as is).
      let mine: LocalResult | undefined;
      run.cheats[0]!.tamper = (r) => (mine = r);
      assert.equal(await honest.tick(), "trained");
      assert.equal(mine?.stepDigests?.length, STEPS + 1, "a redundant job records s_0..s_N");
      const right = mine!.stepDigests!;

      // The liar: honest to step 1, invented from step 2 on, ending at a fake weights digest.
      const madeUp = right.map((s, i) => i < 2 ? s : keccak256(stringToHex(`lie-${i}`)));
      const lie = { ...mine!, weightsDigest: madeUp[STEPS]! };
      await commitRound(liarOp, {
        addresses,
        commit: {
          jobId,
          round: 0,
          nodePubkey: liar.nodePubkey,
          ...pick(lie),
          proofsRoot: lie.proofsRoot,
        },
      });
      const { disputeId: id } = await openDispute(liarOp, {
        addresses,
        jobId,
        round: 0,
        challenger: liar.nodePubkey,
        defender: honest.nodePubkey,
        ends: disputeEnds(pick(lie), madeUp),
      });
      const liarSide = new DisputeResponder(liar.nodePubkey);
      liarSide.remember({ jobId, round: 0, ...pick(lie), stepDigests: madeUp });

      await t.step("a node that is not a party sends nothing", async () => {
        const bystander = new DisputeResponder(`0x${"ab".repeat(32)}`);
        bystander.remember({ jobId, round: 0, ...pick(mine!), stepDigests: right });
        const before = await sent(validator);
        assert.equal(await bystander.answer(validator, addresses), 0);
        assert.equal(await sent(validator), before);
        assert.equal((await dispute()).phase, DisputePhase.AwaitDefence);
      });

      await t.step(
        "the honest tick defends and reveals; answering again sends nothing",
        async () => {
          assert.equal(await honest.tick(), "wait");
          const d = await dispute();
          assert.equal(d.phase, DisputePhase.Bisecting, "defended within the window");
          assert.ok(d.defenderIn && !d.challengerIn, "revealed s_mid without waiting");
          const before = await sent(honestOp);
          assert.equal(await honest.answerDisputes(), 0);
          assert.equal(await sent(honestOp), before);
        },
      );

      await t.step(
        "the two sides bisect down to one step, Unresolved without a majority",
        async () => {
          for (let i = 0; i < 6 && (await dispute()).phase === DisputePhase.Bisecting; i++) {
            await liarSide.answer(liarOp, addresses);
            await honest.tick();
          }
          const d = await dispute();
          assert.equal(d.phase, DisputePhase.Unresolved);
          assert.deepEqual([d.lo, d.hi], [1, 2], "the first invented step");
          assert.equal(d.agreed, right[1]);
          assert.deepEqual([d.challengerHi, d.defenderHi], [madeUp[2], right[2]]);
          assert.equal(await liarSide.answer(liarOp, addresses), 0);
        },
      );

      await t.step("the coordinator recomputes the step and arbitrates, once", async () => {
        const [out] = await (await run.post("/aggregate", { jobId })).json();
        assert.equal(out.status, "waiting", "the liar delivered no update: the round stays open");
        const d = await dispute();
        assert.equal(d.phase, DisputePhase.Settled);
        const rec = (await run.ctx.kv.get<ArbitrationRecord>(["arbitration", jobId, `${id}`]))
          .value;
        assert.equal(rec?.status, "arbitrated");
        assert.equal(rec?.digest, right[2], "the recomputed s_hi is the honest node's");

        assert.equal((await nodeState(run, honest.nodePubkey)).stake, stakeBefore);
        assert.deepEqual(await slashesOf(run, honest.nodePubkey), []);
        assert.deepEqual(await slashesOf(run, liar.nodePubkey), [[liarStake / 2n, FAKE_GRADIENTS]]);
        const bond = await validator.readContract({
          address: addresses.disputes,
          abi: abis.disputes,
          functionName: "disputeBond",
        });
        const credited = await validator.readContract({
          address: addresses.disputes,
          abi: abis.disputes,
          functionName: "claimableOf",
          args: [honestOp.account.address],
        });
        assert.equal(credited, bond);
        assert.equal((await nodeState(run, liar.nodePubkey)).stake, liarStake - liarStake / 2n);

        const before = await sent(validator);
        await run.post("/aggregate", { jobId });
        assert.equal(await sent(validator), before, "an arbitrated dispute is not redone");
      });
    } finally {
      await run.close();
    }
  },
});

function pick(r: { lossDigest: Hex; gradientDigest: Hex; weightsDigest: Hex }) {
  return {
    lossDigest: r.lossDigest,
    gradientDigest: r.gradientDigest,
    weightsDigest: r.weightsDigest,
  };
}
