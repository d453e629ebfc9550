/**
 * What a node keeps to answer for its commits: per job, every round the chain can still
 * challenge, whatever it commits on other jobs meanwhile.
 */
import assert from "node:assert/strict";
import type { Hex } from "viem";
import {
  CHALLENGE_ROUNDS,
  keepChallengeable,
  roundKey,
} from "../../../lib/verify/commit_retention.ts";
import { ChallengeResponder } from "../../../lib/verify/responder.ts";

const ZERO = `0x${"00".repeat(32)}` as Hex;
const JOB_A = `0x${"0a".repeat(32)}` as Hex;
const JOB_B = `0x${"0b".repeat(32)}` as Hex;

Deno.test("keepChallengeable: another job's commits never push a job's commits out", () => {
  let kept = [{ jobId: JOB_A, round: 0 }];
  for (let r = 0; r < 5 * CHALLENGE_ROUNDS; r++) {
    kept = keepChallengeable([...kept, { jobId: JOB_B, round: r }], JOB_B);
  }
  assert.ok(kept.some((c) => c.jobId === JOB_A && c.round === 0));
  assert.equal(kept.filter((c) => c.jobId === JOB_B).length, CHALLENGE_ROUNDS + 1);
});

Deno.test("keepChallengeable: a round stays while it is CHALLENGE_ROUNDS or fewer behind the job's newest", () => {
  const at = (newest: number) =>
    keepChallengeable(
      [{ jobId: JOB_A, round: 0 }, { jobId: JOB_A, round: newest }],
      JOB_A.toUpperCase(),
    )
      .map((c) => c.round);
  assert.deepEqual(at(CHALLENGE_ROUNDS), [0, CHALLENGE_ROUNDS]);
  assert.deepEqual(at(CHALLENGE_ROUNDS + 1), [CHALLENGE_ROUNDS + 1]);
});

Deno.test("keepChallengeable: a round an open challenge or dispute still needs stays however old", () => {
  const kept = [{ jobId: JOB_A, round: 0 }, { jobId: JOB_A, round: 1 }, {
    jobId: JOB_A,
    round: CHALLENGE_ROUNDS + 5,
  }];
  const pinned = new Set([roundKey(JOB_A.toUpperCase(), 1)]);
  assert.deepEqual(keepChallengeable(kept, JOB_A, pinned).map((c) => c.round), [
    1,
    CHALLENGE_ROUNDS + 5,
  ]);
});

Deno.test("ChallengeResponder: keeps every challengeable round of a job and forgets a settled job", () => {
  const responder = new ChallengeResponder("0x01");
  const commit = (jobId: Hex, round: number) =>
    responder.remember({
      jobId,
      round,
      lossDigest: ZERO,
      gradientDigest: ZERO,
      weightsDigest: ZERO,
      updateBytes: new Uint8Array(4096),
    });
  const challenge = (jobId: Hex, round: number) =>
    responder.answerFor({
      challengeId: 1n,
      jobId,
      nodePubkey: "0x01",
      round,
      step: 0,
      count: 1,
      seed: ZERO,
      deadline: 0n,
    });
  commit(JOB_A, 0);
  for (let r = 0; r <= CHALLENGE_ROUNDS; r++) commit(JOB_B, r);
  assert.ok(challenge(JOB_A, 0), "job A's round 0 outlived job B's rounds");
  assert.ok(challenge(JOB_B, 0), "job B's round 0 is still challengeable");
  commit(JOB_B, CHALLENGE_ROUNDS + 1);
  assert.equal(challenge(JOB_B, 0), undefined, "no longer challengeable, so forgotten");
  assert.deepEqual(responder.jobs().sort(), [JOB_A, JOB_B]);
  assert.equal(responder.forgetJob(JOB_A), true);
  assert.equal(challenge(JOB_A, 0), undefined);
  assert.deepEqual(responder.jobs(), [JOB_B]);
});
