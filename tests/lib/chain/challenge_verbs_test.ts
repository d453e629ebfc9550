/**
 * The challenge verbs of lib/chain on anvil, through lib/verify/challenge_chain.ts as its
 * importers call them: a challenge and a gradient sample come back as the chain recorded them,
 * `getResponseWindow` reads the window their deadlines follow, and `openChallenges` lists a
 * challenge only while it is open (not once answered or timed out).
 */
import assert from "node:assert/strict";
import { parseEther } from "viem";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../../../lib/chain/client.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { ChallengeStatus } from "../../../lib/chain/contracts.ts";
import { b32, devnetJobTerms, registerDevnetNode } from "./_devnet_job.ts";
import { submitTrain } from "../../../lib/chain/submit_train.ts";
import { assignNodes } from "../../../lib/chain/assign_nodes.ts";
import { commitRound } from "../../../lib/chain/commit_round.ts";
import { getChallenge } from "../../../lib/chain/get_challenge.ts";
import { getChallengeIds } from "../../../lib/chain/get_challenge_ids.ts";
import { getResponseWindow } from "../../../lib/chain/get_response_window.ts";
import { merkleRoot } from "../../../lib/crypto/merkle.ts";
import { openChunks } from "../../../lib/verify/chunk_openings.ts";
import {
  type ChallengeInfo,
  issueChallenge,
  openChallenges,
  requestGradientSample,
  respondChallenge,
  timeoutChallenge,
} from "../../../lib/verify/challenge_chain.ts";

const STEPS = 4;

Deno.test("challenge verbs: issue, sample, answer, time out; only open challenges are listed", async (t) => {
  await using net = await startDevnet({ accounts: 3 });
  const [coAcct, opAcct, ownerAcct] = net.accounts;
  const mk = (account: typeof coAcct): ArthaClient =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: account! });
  const co = mk(coAcct);
  const op = mk(opAcct);
  const addresses = await deployArtha(co, { settlementDelay: 0 });

  // Prepare: one node commits round 0 of a job; its update is four chunks.
  const nodePubkey = await registerDevnetNode(op, addresses);
  const { jobId } = await submitTrain(mk(ownerAcct), {
    addresses,
    budget: parseEther("5"),
    terms: devnetJobTerms(2, STEPS),
  });
  await assignNodes(co, { addresses, jobId, nodes: [nodePubkey] });
  const update = new Uint8Array(3 * 4096 + 100).fill(7);
  const digests = {
    lossDigest: b32("2"),
    gradientDigest: merkleRoot(update),
    weightsDigest: b32("3"),
  };
  await commitRound(op, {
    addresses,
    commit: { jobId, round: 0, nodePubkey, ...digests, proofsRoot: b32("4") },
  });
  const target = { addresses, jobId, round: 0, nodePubkey, steps: STEPS };
  const listed = async () =>
    (await openChallenges(co, { addresses, nodePubkey })).map((c) => c.challengeId);
  /** What the chain holds for a challenge, in the shape the verbs return. */
  const onChain = async (challengeId: bigint): Promise<ChallengeInfo> => {
    const c = await getChallenge(co, { addresses, challengeId });
    const { jobId, nodePubkey, round, step, count, seed, deadline } = c;
    return { challengeId, jobId, nodePubkey, round, step, count, seed, deadline };
  };

  let sample: ChallengeInfo & { gasUsed: bigint };
  let chunk: ChallengeInfo & { gasUsed: bigint };
  await t.step(
    "an issued challenge and a gradient sample are returned as the chain holds them",
    async () => {
      chunk = await issueChallenge(co, target);
      sample = await requestGradientSample(co, { ...target, chunkCount: 100, sampleBps: 500 });
      const { gasUsed: chunkGas, ...chunkInfo } = chunk;
      const { gasUsed: sampleGas, ...sampleInfo } = sample;
      assert.deepEqual(chunkInfo, await onChain(chunk.challengeId));
      assert.deepEqual(sampleInfo, await onChain(sample.challengeId));
      assert.equal(chunk.count, 1);
      assert.equal(sample.count, 5); // 5% of 100 chunks
      assert.ok(chunkGas > 0n && sampleGas > 0n);
      // The deadline is the issuing block's time plus the response window the verb reads.
      const issuedAt = (await co.getBlock()).timestamp;
      const window = await getResponseWindow(co, { addresses });
      assert.equal(window, 3600);
      assert.ok(sample.deadline <= issuedAt + BigInt(window) && sample.deadline > issuedAt);
      assert.deepEqual(await getChallengeIds(co, { addresses, nodePubkey }), [
        chunk.challengeId,
        sample.challengeId,
      ]);
      assert.deepEqual(await listed(), [chunk.challengeId, sample.challengeId]);
    },
  );

  await t.step("an answered challenge is no longer listed as open", async () => {
    await respondChallenge(op, {
      addresses,
      challengeId: sample.challengeId,
      digests,
      openings: openChunks(update, sample.seed, sample.count),
    });
    const answered = await getChallenge(co, { addresses, challengeId: sample.challengeId });
    assert.equal(answered.status, ChallengeStatus.Answered);
    assert.deepEqual(await listed(), [chunk.challengeId]);
  });

  await t.step("a timed-out challenge is no longer listed as open", async () => {
    const now = (await co.getBlock()).timestamp;
    const wait = Number(chunk.deadline - now) + 1;
    await co.request({ method: "evm_increaseTime" as never, params: [wait] as never });
    await co.request({ method: "evm_mine" as never, params: [] as never });
    await timeoutChallenge(co, { addresses, challengeId: chunk.challengeId });
    const failed = await getChallenge(co, { addresses, challengeId: chunk.challengeId });
    assert.equal(failed.status, ChallengeStatus.Failed);
    assert.deepEqual(await listed(), []);
    assert.equal((await getChallengeIds(co, { addresses, nodePubkey })).length, 2);
  });
});
