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
import { type Devnet, startDevnet } from "../../lib/chain/devnet.ts";
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

type Run = Awaited<ReturnType<typeof startVerifyRun>>;

/** A redundancy-2 job of one task group of two (an honest worker and a liar), one round. */
function disputeRun(net: Devnet): Promise<Run> {
  return startVerifyRun(net, createTrainer(loadKernel()), {
    nodes: 2,
    shards: 1,
    rounds: 1,
    localSteps: STEPS,
    verification: { redundancy: 2, challengeRate: 0, sampleRate: 0 },
  });
}

/** The honest worker has delivered round 0; the liar committed a fake result and disputed it. */
async function setUpDispute(net: Devnet, run: Run) {
  const { addresses, jobId, validator } = run;
  const [honest, liar] = run.workers as [Run["workers"][0], Run["workers"][0]];
  // startVerifyRun gives worker i the account after the coordinator's and the owner's.
  const operator = (i: number) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: net.accounts[2 + i]! });
  const [honestOp, liarOp] = [operator(0), operator(1)];
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
  const commit = { jobId, round: 0, nodePubkey: liar.nodePubkey, ...pick(lie) };
  await commitRound(liarOp, { addresses, commit: { ...commit, proofsRoot: lie.proofsRoot } });
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
  return {
    run,
    honest,
    liar,
    honestOp,
    liarOp,
    liarSide,
    id,
    mine: mine!,
    right,
    madeUp,
    stakeBefore,
    liarStake,
    sent: (c: typeof honestOp) => c.getTransactionCount({ address: c.account.address }),
    dispute: () => readDispute(validator, { addresses, disputeId: id }),
  };
}

type Fixture = Awaited<ReturnType<typeof setUpDispute>>;

async function bystanderSendsNothing(f: Fixture): Promise<void> {
  const { jobId, validator, addresses } = f.run;
  const bystander = new DisputeResponder(`0x${"ab".repeat(32)}`);
  bystander.remember({ jobId, round: 0, ...pick(f.mine), stepDigests: f.right });
  const before = await f.sent(validator);
  assert.equal(await bystander.answer(validator, addresses), 0);
  assert.equal(await f.sent(validator), before);
  assert.equal((await f.dispute()).phase, DisputePhase.AwaitDefence);
}

async function honestTickDefends(f: Fixture): Promise<void> {
  assert.equal(await f.honest.tick(), "wait");
  const d = await f.dispute();
  assert.equal(d.phase, DisputePhase.Bisecting, "defended within the window");
  assert.ok(d.defenderIn && !d.challengerIn, "revealed s_mid without waiting");
  const before = await f.sent(f.honestOp);
  assert.equal(await f.honest.answerDisputes(), 0);
  assert.equal(await f.sent(f.honestOp), before);
}

async function bisectToOneStep(f: Fixture): Promise<void> {
  for (let i = 0; i < 6 && (await f.dispute()).phase === DisputePhase.Bisecting; i++) {
    await f.liarSide.answer(f.liarOp, f.run.addresses);
    await f.honest.tick();
  }
  const d = await f.dispute();
  assert.equal(d.phase, DisputePhase.Unresolved);
  assert.deepEqual([d.lo, d.hi], [1, 2], "the first invented step");
  assert.equal(d.agreed, f.right[1]);
  assert.deepEqual([d.challengerHi, d.defenderHi], [f.madeUp[2], f.right[2]]);
  assert.equal(await f.liarSide.answer(f.liarOp, f.run.addresses), 0);
}

async function coordinatorArbitrates(f: Fixture): Promise<void> {
  const { run, honest, liar, liarStake } = f;
  const { addresses, jobId, validator } = run;
  const [out] = await (await run.post("/aggregate", { jobId })).json();
  assert.equal(out.status, "waiting", "the liar delivered no update: the round stays open");
  assert.equal((await f.dispute()).phase, DisputePhase.Settled);
  const rec = (await run.ctx.kv.get<ArbitrationRecord>(["arbitration", jobId, `${f.id}`])).value;
  assert.equal(rec?.status, "arbitrated");
  assert.equal(rec?.digest, f.right[2], "the recomputed s_hi is the honest node's");
  assert.equal((await nodeState(run, honest.nodePubkey)).stake, f.stakeBefore);
  assert.deepEqual(await slashesOf(run, honest.nodePubkey), []);
  assert.deepEqual(await slashesOf(run, liar.nodePubkey), [[liarStake / 2n, FAKE_GRADIENTS]]);
  const disputes = { address: addresses.disputes, abi: abis.disputes } as const;
  const bond = await validator.readContract({ ...disputes, functionName: "disputeBond" });
  const account = f.honestOp.account.address;
  const credited = await validator.readContract({
    ...disputes,
    functionName: "claimableOf",
    args: [account],
  });
  assert.equal(credited, bond, "the honest defender earns the liar's bond");
  assert.equal((await nodeState(run, liar.nodePubkey)).stake, liarStake - liarStake / 2n);
  const before = await f.sent(validator);
  await run.post("/aggregate", { jobId });
  assert.equal(await f.sent(validator), before, "an arbitrated dispute is not redone");
}

Deno.test({
  name: "an honest worker defends a made-up dispute by itself; the arbiter slashes the liar",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using net = await startDevnet({ accounts: 5 });
    const run = await disputeRun(net);
    try {
      const f = await setUpDispute(net, run);
      await t.step("a node that is not a party sends nothing", () => bystanderSendsNothing(f));
      await t.step(
        "the honest tick defends and reveals; answering again sends nothing",
        () => honestTickDefends(f),
      );
      await t.step(
        "the two sides bisect down to one step, Unresolved without a majority",
        () => bisectToOneStep(f),
      );
      await t.step(
        "the coordinator recomputes the step and arbitrates, once",
        () => coordinatorArbitrates(f),
      );
    } finally {
      await run.close();
    }
  },
});

Deno.test({
  name:
    "attacker: a liar that opens a dispute and goes silent cannot hold the job's settlement: its window runs out and the coordinator ends it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Prepare: the liar disputes, the honest worker defends and reveals, the liar moves no more
    // (settlement waits for every open dispute, so this one would hold everyone's pay).
    await using net = await startDevnet({ accounts: 5 });
    const run = await disputeRun(net);
    try {
      const f = await setUpDispute(net, run);
      await honestTickDefends(f);
      const { addresses, jobId, validator } = run;
      const openCases = () =>
        validator.readContract({
          address: addresses.proofs,
          abi: abis.proofs,
          functionName: "openCasesOf",
          args: [jobId],
        });
      assert.equal(await openCases(), 1n);
      const window = await validator.readContract({
        address: addresses.disputes,
        abi: abis.disputes,
        functionName: "moveWindow",
      });
      await validator.request({
        method: "evm_increaseTime" as never,
        params: [Number(window) + 1] as never,
      });
      await validator.request({ method: "evm_mine" as never, params: [] as never });

      // Execute: the coordinator's next aggregate call sees the job's verification through.
      await run.post("/aggregate", { jobId });

      // Assert: ended in that call: its timeout (no majority in a group of two) sends it to the
      // arbiter, whose recomputation the liar's commit is not (50%); nothing holds the settlement
      // any more.
      assert.equal((await f.dispute()).phase, DisputePhase.Settled);
      assert.equal(await openCases(), 0n);
      assert.deepEqual(await slashesOf(run, f.honest.nodePubkey), []);
      assert.equal((await slashesOf(run, f.liar.nodePubkey)).length, 1);
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
