/**
 * lib/coordinator/disputes.ts, the arbiter, from the attackers' side: a colluding pair of one task
 * group that bisects down to a step after an s_lo both made up. Found in the verification audit:
 * the arbiter skipped a dispute whose agreed s_lo it could not reproduce, so the pair let it
 * expire (no slash, the bond back); now it states the recomputed s_hi and both sides lose.
 */
import assert from "node:assert/strict";
import { type Hex, keccak256, stringToHex } from "viem";
import { type Devnet, startDevnet } from "../../../lib/chain/devnet.ts";
import { createArthaClient } from "../../../lib/chain/client.ts";
import { abis } from "../../../lib/chain/contracts.ts";
import { commitRound } from "../../../lib/chain/commit_round.ts";
import { createTrainer } from "../../../kernel/train_step.ts";
import { loadKernel } from "../../../kernel/wasm_module.ts";
import type { LocalResult } from "../../../lib/round/local_training.ts";
import {
  disputeEnds,
  DisputePhase,
  openDispute,
  readDispute,
} from "../../../lib/verify/dispute_chain.ts";
import { DisputeResponder } from "../../../lib/verify/dispute_responder.ts";
import { resultHashOf } from "../../../lib/verify/recompute.ts";
import type { ArbitrationRecord } from "../../../lib/coordinator/disputes.ts";
import { jobMetricKey } from "../../../lib/coordinator/state.ts";
import { nodeState, slashesOf, startVerifyRun } from "../../verify/_verify_job.ts";

const STEPS = 8;
const FAKE_GRADIENTS = 2;
const made = (tag: string, i: number): Hex => keccak256(stringToHex(`${tag}-${i}`));

function pick(r: { lossDigest: Hex; gradientDigest: Hex; weightsDigest: Hex }) {
  return {
    lossDigest: r.lossDigest,
    gradientDigest: r.gradientDigest,
    weightsDigest: r.weightsDigest,
  };
}

/**
 * The challenger commits `lie` for `round` and opens a dispute against the defender with the
 * step digests `theirs`; its side of the bisection is a DisputeResponder that remembers them.
 */
async function disputeWith(
  op: ReturnType<typeof createArthaClient>,
  d: {
    addresses: Parameters<typeof commitRound>[1]["addresses"];
    jobId: Hex;
    round: number;
    challenger: Hex;
    defender: Hex;
    lie: LocalResult;
    theirs: Hex[];
  },
) {
  const { addresses, jobId, round, lie, theirs } = d;
  const commit = {
    jobId,
    round,
    nodePubkey: d.challenger,
    ...pick(lie),
    proofsRoot: lie.proofsRoot,
  };
  await commitRound(op, { addresses, commit });
  const ends = disputeEnds(pick(lie), theirs);
  const at = { addresses, jobId, round, challenger: d.challenger, defender: d.defender, ends };
  const { disputeId } = await openDispute(op, at);
  const challengerSide = new DisputeResponder(d.challenger);
  challengerSide.remember({ jobId, round, ...pick(lie), stepDigests: theirs });
  return { disputeId, challengerSide };
}

/** A job of one task group of two Workers (defender, challenger) and the challenger's operator. */
async function pairRun(net: Devnet, rounds: number) {
  const run = await startVerifyRun(net, createTrainer(loadKernel()), {
    nodes: 2,
    shards: 1,
    rounds,
    localSteps: STEPS,
    verification: { redundancy: 2, challengeRate: 0, sampleRate: 0 },
  });
  const [defender, challenger] = run.workers as [Run["workers"][0], Run["workers"][0]];
  const challengerOp = createArthaClient({
    rpcUrl: net.rpcUrl,
    chainId: net.chainId,
    account: net.accounts[3]!,
  });
  return { run, defender, challenger, challengerOp };
}

/**
 * The defender's worker defends the dispute and both sides bisect until it leaves Bisecting;
 * returns the defender's first tick (its defence) and a reader of the dispute.
 */
async function bisect(
  p: Awaited<ReturnType<typeof pairRun>>,
  challengerSide: DisputeResponder,
  disputeId: bigint,
) {
  const { addresses, validator } = p.run;
  const dispute = () => readDispute(validator, { addresses, disputeId });
  const defended = await p.defender.tick();
  for (let i = 0; i < 6 && (await dispute()).phase === DisputePhase.Bisecting; i++) {
    await challengerSide.answer(p.challengerOp, addresses);
    await p.defender.tick();
  }
  return { defended, dispute };
}

/**
 * The defender trains round 0 honestly; the challenger commits the step digests `theirs(s, i)`
 * makes of the honest s_i and disputes it. Returns the honest result and the dispute.
 */
async function disputeHonest(
  p: Awaited<ReturnType<typeof pairRun>>,
  theirs: (s: Hex, i: number) => Hex,
) {
  const { run, defender, challenger, challengerOp } = p;
  let honest: LocalResult | undefined;
  run.cheats[0]!.tamper = (r) => honest = r;
  assert.equal(await defender.tick(), "trained");
  const steps = honest!.stepDigests!.map(theirs);
  const dispute = await disputeWith(challengerOp, {
    addresses: run.addresses,
    jobId: run.jobId,
    round: 0,
    challenger: challenger.nodePubkey,
    defender: defender.nodePubkey,
    lie: { ...honest!, weightsDigest: steps[STEPS]! },
    theirs: steps,
  });
  return { honest: honest!, ...dispute };
}

Deno.test({
  name: "attacker: a colluding pair that agrees on a made-up s_lo is arbitrated, and both lose",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Prepare: one task group of two Workers, both lying from step 1 on alike (so any bisection
    // agrees on a wrong s_1), differing from step 2; one disputes the other.
    await using net = await startDevnet({ accounts: 5 });
    const pair = await pairRun(net, 1);
    const { run, defender, challenger, challengerOp } = pair;
    try {
      const { addresses, jobId } = run;
      const stakes = [
        (await nodeState(run, defender.nodePubkey)).stake,
        (await nodeState(run, challenger.nodePubkey)).stake,
      ];
      let right: Hex[] = [];
      let mine: LocalResult | undefined;
      const shared = (i: number, s: Hex) => i < 1 ? s : made("pair", i);
      run.cheats[0]!.tamper = (r) => {
        right = r.stepDigests!;
        const stepDigests = right.map((s, i) => i < 2 ? shared(i, s) : made("defender", i));
        mine = { ...r, stepDigests, weightsDigest: stepDigests[STEPS]! };
        return mine;
      };
      assert.equal(await defender.tick(), "trained");
      const theirs = right.map((s, i) => i < 2 ? shared(i, s) : made("challenger", i));
      const lie = { ...mine!, weightsDigest: theirs[STEPS]! };
      const { disputeId, challengerSide } = await disputeWith(challengerOp, {
        addresses,
        jobId,
        round: 0,
        challenger: challenger.nodePubkey,
        defender: defender.nodePubkey,
        lie,
        theirs,
      });
      const { defended, dispute } = await bisect(pair, challengerSide, disputeId);
      assert.equal(defended, "wait"); // defends
      const d = await dispute();
      assert.equal(d.phase, DisputePhase.Unresolved);
      assert.deepEqual([d.lo, d.hi], [1, 2]);
      assert.notEqual(d.agreed, right[1], "the pair agreed on a made-up s_1");

      // Execute: the coordinator's aggregate call arbitrates.
      await (await run.post("/aggregate", { jobId })).body?.cancel();

      // Assert: the recomputed s_2 is stated; neither side's matches it, so both lose 50%.
      const rec = (await run.ctx.kv.get<ArbitrationRecord>(["arbitration", jobId, `${disputeId}`]))
        .value;
      assert.equal(rec?.status, "arbitrated", JSON.stringify(rec));
      assert.equal(rec?.digest, right[2]);
      assert.equal((await dispute()).phase, DisputePhase.Settled);
      assert.deepEqual(await slashesOf(run, defender.nodePubkey), [[
        stakes[0]! / 2n,
        FAKE_GRADIENTS,
      ]]);
      assert.deepEqual(await slashesOf(run, challenger.nodePubkey), [[
        stakes[1]! / 2n,
        FAKE_GRADIENTS,
      ]]);
    } finally {
      await run.close();
    }
  },
});

type Run = Awaited<ReturnType<typeof startVerifyRun>>;

Deno.test({
  name:
    "victim: an arbiter whose record of the round's start drifted from the chain's skips, never slashes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Found reviewing the both-lose verdicts: after round 0 the chain anchors s_0 and checked both
    // sides' against it, so a recomputation from another start is the arbiter's own error; stated,
    // its s_hi matched neither side and the honest defender lost 50%. Round 1: an honest defender
    // and a challenger lying from step 2 bisect to (1, 2); the coordinator's record of round 0's
    // checkpoint is then made to name the initial weights.
    await using net = await startDevnet({ accounts: 5 });
    const pair = await pairRun(net, 2);
    const { run, defender, challenger, challengerOp } = pair;
    try {
      const { addresses, jobId } = run;
      assert.equal(await defender.tick(), "trained");
      assert.equal(await challenger.tick(), "trained");
      await (await run.post("/aggregate", { jobId })).body?.cancel();
      let right: Hex[] = [];
      let honest: LocalResult | undefined;
      run.cheats[0]!.tamper = (r) => {
        right = r.stepDigests!;
        honest = r;
        return r;
      };
      assert.equal(await defender.tick(), "trained");
      const theirs = right.map((s, i) => i < 2 ? s : made("challenger-r1", i));
      const lie = { ...honest!, weightsDigest: theirs[STEPS]! };
      const { disputeId, challengerSide } = await disputeWith(challengerOp, {
        addresses,
        jobId,
        round: 1,
        challenger: challenger.nodePubkey,
        defender: defender.nodePubkey,
        lie,
        theirs,
      });
      const { dispute } = await bisect(pair, challengerSide, disputeId);
      assert.equal((await dispute()).phase, DisputePhase.Unresolved);
      const stake = (await nodeState(run, defender.nodePubkey)).stake;
      const metric = await run.ctx.kv.get<{ checkpointCid: string }>(jobMetricKey(jobId, 0));
      assert.ok(metric.value, "round 0's metric is kept beside the job's head");
      await run.ctx.kv.set(metric.key, { ...metric.value, checkpointCid: run.spec.initialWeights });

      // Execute
      await (await run.post("/aggregate", { jobId })).body?.cancel();

      // Assert: skipped with its reason; the honest defender keeps its stake.
      const rec = (await run.ctx.kv.get<ArbitrationRecord>(["arbitration", jobId, `${disputeId}`]))
        .value;
      assert.equal(rec?.status, "skipped", JSON.stringify(rec));
      assert.match(rec?.reason ?? "", /anchored start/);
      assert.equal((await nodeState(run, defender.nodePubkey)).stake, stake);
    } finally {
      await run.close();
    }
  },
});

Deno.test({
  name:
    "victim: an honest defender offline through its window is judged by the arbiter, not slashed",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Found in the contracts audit: without a group majority a missed move window lost the late
    // side 10% and its pay for the whole job (refunded to the owner), so a job owner's node paired
    // with an honest one disputed it and waited out one window. Now the dispute goes to the
    // arbiter, which states the recomputed round's committed result. Prepare: an honest defender
    // that never defends; a challenger whose committed result is made up from step 1.
    await using net = await startDevnet({ accounts: 5 });
    const pair = await pairRun(net, 1);
    const { run, defender, challenger } = pair;
    try {
      const { addresses, jobId } = run;
      const { honest, disputeId } = await disputeHonest(
        pair,
        (s, i) => i < 1 ? s : made("challenger", i),
      );
      const stakes = await Promise.all(
        [defender, challenger].map(async (w) => (await nodeState(run, w.nodePubkey)).stake),
      );
      const moveWindow = await run.validator.readContract({
        address: addresses.disputes,
        abi: abis.disputes,
        functionName: "moveWindow",
      });
      await run.validator.request(
        { method: "evm_increaseTime" as never, params: [Number(moveWindow) + 1] as never },
      );
      await run.validator.request({ method: "evm_mine" as never, params: [] as never });

      // Execute: one aggregate call times the dispute out, the next arbitrates it.
      for (let i = 0; i < 2; i++) await (await run.post("/aggregate", { jobId })).body?.cancel();

      // Assert: the arbiter stated the honest commit; only the challenger lost.
      const rec = (await run.ctx.kv.get<ArbitrationRecord>(["arbitration", jobId, `${disputeId}`]))
        .value;
      assert.equal(rec?.status, "arbitrated", JSON.stringify(rec));
      const honestResult = resultHashOf(
        honest.lossDigest,
        honest.gradientDigest,
        honest.weightsDigest,
      );
      assert.equal(rec?.digest, honestResult);
      const d = await readDispute(run.validator, { addresses, disputeId });
      assert.equal(d.phase, DisputePhase.Settled);
      assert.deepEqual(await slashesOf(run, defender.nodePubkey), []);
      assert.equal((await nodeState(run, defender.nodePubkey)).stake, stakes[0]);
      assert.deepEqual(await slashesOf(run, challenger.nodePubkey), [[
        stakes[1]! / 2n,
        FAKE_GRADIENTS,
      ]]);
    } finally {
      await run.close();
    }
  },
});

Deno.test({
  name: "attacker: a round-0 challenger that claims a made-up start loses to the arbiter",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Found reviewing the arbiter: in round 0 the chain anchors no start, so it keeps the one the
    // challenger claimed, and the arbiter compared its recomputed s_0 against that as if it were
    // anchored: a made-up start made it skip, and the dispute expired with the cheat unslashed.
    await using net = await startDevnet({ accounts: 5 });
    const pair = await pairRun(net, 1);
    const { run, defender, challenger } = pair;
    try {
      const { jobId } = run;
      const { honest, disputeId, challengerSide } = await disputeHonest(
        pair,
        (_, i) => made("made-up-start", i),
      );
      const stake = (await nodeState(run, challenger.nodePubkey)).stake;
      const { dispute } = await bisect(pair, challengerSide, disputeId);
      const d = await dispute();
      assert.equal(d.phase, DisputePhase.Unresolved);
      assert.deepEqual([d.hi, d.anchored], [0, false]);

      // Execute
      await (await run.post("/aggregate", { jobId })).body?.cancel();

      // Assert: the recomputed s_0 is stated; the challenger's start is not it.
      const rec = (await run.ctx.kv.get<ArbitrationRecord>(["arbitration", jobId, `${disputeId}`]))
        .value;
      assert.equal(rec?.status, "arbitrated", JSON.stringify(rec));
      assert.equal(rec?.digest, honest.stepDigests![0]);
      assert.deepEqual(await slashesOf(run, challenger.nodePubkey), [[stake / 2n, FAKE_GRADIENTS]]);
      assert.deepEqual(await slashesOf(run, defender.nodePubkey), []);
    } finally {
      await run.close();
    }
  },
});
