/**
 * What a worker may forget, from the victim's side: a job's commits go only once the chain opens
 * no case on the job and none is open. A dispute opened in the last round may outlive the
 * settlement delay (each side has a window per move), and a worker that forgot the job then made
 * no move and lost the dispute by timeout.
 */
import assert from "node:assert/strict";
import { type Hex, parseEther } from "viem";
import {
  abis,
  b32,
  event,
  HOUR,
  mined,
  nodeKeyOf,
  nodePubkey,
  registerNode,
  roundCommit,
  setupFixture,
  submitJob,
} from "../contracts/_fixture.ts";
import { stepsProof, stepsRoot } from "../../lib/verify/steps_tree.ts";
import { Worker } from "../../lib/worker/worker.ts";

/** A worker whose responders a test can hand commits to, as keepCommitted does. */
class KeepingWorker extends Worker {
  get responders() {
    return { challenges: this.challenges, disputes: this.disputes };
  }
}

const STEPS = 8;

Deno.test("victim: a worker keeps a disputed round past the job's settlement delay and keeps moving", async () => {
  // Prepare: a one-round job of one task group (the victim and a liar), a settlement delay of
  // an hour. The liar commits a fake, disputes the victim's round and moves at the end of each
  // window, so the dispute runs past the delay.
  await using fx = await setupFixture({ accounts: 8 });
  const { jobs, proofs, registry, verification, disputes } = fx.c;
  const [co, liarOp, victimOp] = [fx.coordinator, fx.clients[2]!, fx.clients[3]!];
  await mined(
    fx.owner,
    fx.owner.writeContract({
      ...proofs,
      functionName: "setSettlementDelay",
      args: [BigInt(HOUR)],
    }),
  );
  const [victim, liar] = [nodePubkey("keeps-its-round"), nodePubkey("drags-the-dispute")];
  for (const [n, op] of [[victim, victimOp], [liar, liarOp]] as const) {
    await registerNode(fx, op, { pubkey: n });
  }
  const jobId = await submitJob(fx, fx.clients[4]!, parseEther("10"), {
    rounds: 1,
    nodesWanted: 2,
    stepsPerRound: STEPS,
  });
  await mined(
    co,
    co.writeContract({ ...jobs, functionName: "assign", args: [jobId, [victim, liar]] }),
  );
  await mined(
    co,
    co.writeContract({
      ...verification,
      functionName: "setTaskGroups",
      args: [jobId, [victim, liar], [1, 1]],
    }),
  );
  const right = Array.from({ length: STEPS + 1 }, (_, i) => b32(`right-${i}`));
  const faked = right.map((d, i) => i === 0 ? d : b32(`fake-${i}`));
  const digests = (node: Hex, steps: Hex[], tag: string) => ({
    ...roundCommit(jobId, node, 0, { result: tag }),
    weightsDigest: steps.at(-1)!,
  });
  for (
    const [op, node, steps, tag] of [[victimOp, victim, right, "right"], [
      liarOp,
      liar,
      faked,
      "fake",
    ]] as const
  ) {
    await mined(
      op,
      op.writeContract({
        ...proofs,
        functionName: "commitRound",
        args: [digests(node, steps, tag)],
      }),
    );
  }
  const worker = new KeepingWorker({
    coordinator: () => Promise.reject(new Error("no coordinator in this test")),
    client: victimOp,
    addresses: fx.addrs,
    chainId: fx.net.chainId,
    key: nodeKeyOf("keeps-its-round"),
    heartbeatEveryMs: Infinity,
  });
  const { lossDigest, gradientDigest, weightsDigest } = digests(victim, right, "right");
  const kept = {
    jobId: jobId.toLowerCase() as Hex,
    round: 0,
    lossDigest,
    gradientDigest,
    weightsDigest,
  };
  worker.responders.challenges.remember({ ...kept, updateBytes: new Uint8Array(64) });
  worker.responders.disputes.remember({ ...kept, stepDigests: right });
  const c = digests(liar, faked, "fake");
  const opened = await mined(
    liarOp,
    liarOp.writeContract({
      ...disputes,
      functionName: "open",
      args: [jobId, 0, liar, victim, {
        lossDigest: c.lossDigest,
        gradientDigest: c.gradientDigest,
        weightsDigest: c.weightsDigest,
        stepsRoot: stepsRoot(faked),
        startDigest: faked[0]!,
        startProof: stepsProof(faked, 0),
        endProof: stepsProof(faked, STEPS),
      }],
      value: parseEther("1"),
    }),
  );
  const id = event(opened, abis.disputes, "DisputeOpened").disputeId!;
  await mined(
    co,
    co.writeContract({ ...jobs, functionName: "closeRound", args: [jobId, 0, "cp-0", b32("w-0")] }),
  );
  const window = Number(await co.readContract({ ...disputes, functionName: "moveWindow" }));
  const liarReveals = async () => {
    const mid = await co.readContract({ ...disputes, functionName: "midpoint", args: [id] });
    await mined(
      liarOp,
      liarOp.writeContract({
        ...disputes,
        functionName: "reveal",
        args: [id, true, faked[mid]!, stepsProof(faked, mid)],
      }),
    );
  };
  assert.ok(await worker.answerDisputes() > 0, "the victim defends");
  await fx.increaseTime(window - 60);
  await liarReveals();
  assert.ok(await worker.answerDisputes() > 0);
  await fx.increaseTime(window - 60);
  await liarReveals();
  await fx.increaseTime(200);
  const verificationOpen = await co.readContract({
    ...proofs,
    functionName: "verificationOpen",
    args: [jobId],
  });
  assert.equal(verificationOpen, false, "past the settlement delay, with the dispute still open");

  // Execute: the worker's routine (answering challenges also forgets settled jobs), then its move.
  await worker.answerChallenges();
  const moved = await worker.answerDisputes();

  // Assert: it still had the round and moved; nobody slashed it.
  assert.ok(moved > 0, "the victim still moves");
  const stake =
    (await co.readContract({ ...registry, functionName: "getNode", args: [victim] })).stake;
  assert.equal(stake, parseEther("10"));
});
