/**
 * The validator judges a challenged node's commit as a whole, not only what it opened (found in
 * the verification audit): before, a node that altered a chunk of its delta and committed and
 * delivered it consistently passed a chunk challenge unless that very chunk was drawn, and its
 * step challenge always; and a commit to an over-deep all-padding tree answered with empty chunks
 * was "verified".
 */
import assert from "node:assert/strict";
import { concat, type Hex, keccak256 } from "viem";
import { commitRound } from "../../lib/chain/commit_round.ts";
import { getChallenge } from "../../lib/chain/get_challenge.ts";
import { respondChallenge } from "../../lib/chain/respond_challenge.ts";
import { f32Bytes, type LocalResult } from "../../lib/round/local_training.ts";
import { merkleRoot } from "../../lib/crypto/merkle.ts";
import { listValues } from "../../lib/coordinator/state.ts";
import type { ChallengeRecord } from "../../lib/coordinator/challenges.ts";
import {
  type Coordinator,
  read,
  type Scenario,
  setupCoordinator,
  type TestJob,
  type TestNode,
} from "./_coordinator.ts";

/** The honest result with its second 4 KiB chunk of the delta altered, committed consistently. */
function oneChunkFlipped(r: LocalResult): LocalResult {
  const delta = r.delta.slice();
  for (let i = 1024; i < 2048; i++) delta[i] = delta[i]! + 1e-3;
  return { ...r, delta, payload: undefined, gradientDigest: merkleRoot(f32Bytes(delta)) };
}

/** The zero leaf's ancestors: path[k] is the root of an all-padding subtree of depth k. */
function zeroPath(depth: number): Hex[] {
  const out: Hex[] = [];
  let z: Hex = `0x${"00".repeat(32)}`;
  for (let k = 0; k <= depth; k++) {
    out.push(z);
    z = keccak256(concat(["0x01", z, z]));
  }
  return out;
}

const PADDING_DEPTH = 40;

/** `node` commits to round 0 the root of an over-deep all-padding tree as its gradient digest. */
async function commitPadding(fx: Coordinator, job: TestJob, node: TestNode): Promise<void> {
  const made = (tag: string) => `0x${tag.repeat(32)}` as const;
  await commitRound(node.operator, {
    addresses: fx.addresses,
    commit: {
      jobId: job.jobId,
      round: 0,
      nodePubkey: node.nodePubkey,
      lossDigest: made("11"),
      gradientDigest: zeroPath(PADDING_DEPTH)[PADDING_DEPTH]!,
      weightsDigest: made("33"),
      proofsRoot: made("44"),
    },
  });
}

/** Answers `node`'s chunk challenge with empty chunks, each opening a padding leaf. */
async function answerWithPadding(fx: Coordinator, s: Scenario, job: TestJob, node: TestNode) {
  const recs = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
  const rec = recs.find((r) => r.nodePubkey === node.nodePubkey && r.kind === "challenge")!;
  const challengeId = BigInt(rec.id);
  const c = await getChallenge(fx.coordinator, { addresses: fx.addresses, challengeId });
  const path = zeroPath(PADDING_DEPTH);
  await respondChallenge(node.operator, {
    addresses: fx.addresses,
    challengeId,
    digests: {
      lossDigest: `0x${"11".repeat(32)}`,
      gradientDigest: path[PADDING_DEPTH]!,
      weightsDigest: `0x${"33".repeat(32)}`,
    },
    openings: {
      chunks: Array(Number(c.count)).fill("0x"),
      proofs: Array(Number(c.count)).fill(path.slice(0, PADDING_DEPTH)),
    },
  });
}

Deno.test("attacker: a node that alters one chunk of its delta, or commits an all-padding tree, is penalised when challenged", async () => {
  // Prepare: every delivered commit is challenged (a chunk and a step); `flipper` trains honestly
  // and alters one chunk of its delta before committing and delivering it; `padder` commits the
  // root of a 2^40-leaf all-padding tree and delivers nothing (so it is challenged as well).
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 3,
    rounds: 2,
    quorum: 0.6,
    verification: { redundancy: 1, challengeRate: 1, sampleRate: 0 },
  });
  const [honest, flipper, padder] = job.nodes as [TestNode, TestNode, TestNode];
  flipper.cheat.tamper = (r, task) => task.round === 0 ? oneChunkFlipped(r) : r;
  await commitPadding(fx, job, padder);
  for (const n of [honest, flipper]) assert.equal(await n.worker.tick(), "trained");

  // Execute: the round closes and challenges; the nodes answer; the window passes; judged.
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(closed.status, "closed", JSON.stringify(closed));
  for (const n of [honest, flipper]) await n.worker.answerChallenges();
  await answerWithPadding(fx, s, job, padder);
  await fx.coordinator.request({ method: "evm_increaseTime" as never, params: [3601] as never });
  await fx.coordinator.request({ method: "evm_mine" as never, params: [] as never });
  await s.post("/aggregate", { jobId: job.jobId });

  // Assert: whichever chunk was drawn, the flipper's commit is not the recomputed round's, so
  // both its answers are rejected; the padder's padding answer is rejected (its step, which it
  // cannot open, times out); the honest node passes both.
  const recs = await listValues<ChallengeRecord>(s.ctx.kv, ["challenge", job.jobId]);
  const asked = (n: TestNode) =>
    recs.filter((r) => r.nodePubkey === n.nodePubkey).map((r) => [r.kind, r.status]).sort();
  assert.deepEqual(asked(honest), [["challenge", "verified"], ["step", "verified"]]);
  assert.deepEqual(asked(flipper), [["challenge", "penalised"], ["step", "penalised"]]);
  assert.deepEqual(asked(padder), [["challenge", "penalised"], ["step", "timed-out"]]);
});
