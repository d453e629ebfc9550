/**
 * What a worker checks before it joins a secure round, from the side of a coordinator that lies:
 * a graph seed it picked (or took from another block), less DP noise, no consistency check,
 * another clip or degree, a session of another round; and a message signed by someone else.
 */
import assert from "node:assert/strict";
import { generateNodeKey } from "../../../lib/crypto/keys.ts";
import type { JobSpec } from "../../../lib/job/job_spec.ts";
import {
  checkSession,
  secureContext,
  secureRoundConfig,
  secureSeed,
  type SecureSessionInfo,
  signSecurePost,
  verifySecurePost,
} from "../../../lib/round/secure_session.ts";

const JOB = `0x${"ab".repeat(32)}` as const;
const BLOCK = `0x${"cd".repeat(32)}` as const;
const SPEC = {
  model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
  privacy: { clip: 0.1, noiseMultiplier: 1.2, delta: 1e-5, maxEpsilon: 10 },
  secureAggregation: { consistencyCheck: true, degree: 4 },
} as Pick<JobSpec, "model" | "privacy" | "secureAggregation">;

function honest(): SecureSessionInfo {
  const at = { chainId: 31337, jobId: JOB, round: 2, attempt: 0 };
  const context = secureContext(at);
  const clients = Array.from({ length: 6 }, () => generateNodeKey().publicKeyHex);
  const config = secureRoundConfig(SPEC, { context, seed: secureSeed(context, BLOCK), clients });
  return { jobId: JOB, round: 2, attempt: 0, anchorBlock: "17", blockHash: BLOCK, config };
}

const chain = { chainId: 31337, blockHash: BLOCK };

Deno.test("checkSession: the honest session passes, with the spec's noise and clip", () => {
  const s = honest();
  checkSession(SPEC, s, chain);
  assert.ok(Math.abs(s.config.noiseStd! - 1.2 * 0.1) < 1e-15);
  assert.equal(s.config.clip, 0.1);
});

Deno.test("checkSession: refuses what a lying coordinator would change", () => {
  const lies: [string, (s: SecureSessionInfo) => SecureSessionInfo, RegExp][] = [
    [
      "a seed it picked",
      (s) => ({ ...s, config: { ...s.config, seed: `0x${"00".repeat(32)}` } }),
      /seed/,
    ],
    ["another block's hash", (s) => s, /seed is not derived from block 17/],
    ["less noise", (s) => ({ ...s, config: { ...s.config, noiseStd: 0 } }), /config.noiseStd/],
    [
      "no consistency check",
      (s) => ({ ...s, config: { ...s.config, consistencyCheck: false } }),
      /consistencyCheck/,
    ],
    ["a larger clip", (s) => ({ ...s, config: { ...s.config, clip: 10 } }), /config.clip/],
    [
      "a smaller threshold",
      (s) => ({ ...s, config: { ...s.config, threshold: 1 } }),
      /config.threshold/,
    ],
    ["another round", (s) => ({ ...s, round: 3 }), /context/],
    [
      "fewer survivors",
      (s) => ({ ...s, config: { ...s.config, minSurvivors: 2 } }),
      /config.minSurvivors/,
    ],
    [
      // The victim beside one node of the coordinator's: the released sum minus that node's
      // input is the victim's update.
      "a roster of two",
      (s) => ({ ...s, config: { ...s.config, clients: s.config.clients.slice(0, 2) } }),
      /a roster of 2 is below the job's minimum of 3 inputs/,
    ],
  ];
  for (const [what, lie, why] of lies) {
    const other = what === "another block's hash"
      ? { ...chain, blockHash: `0x${"ee".repeat(32)}` as const }
      : chain;
    assert.throws(() => checkSession(SPEC, lie(honest()), other), why, what);
  }
});

Deno.test("attacker: a coordinator cannot re-roll the neighbour graph by ordering the roster", () => {
  // Found in the privacy audit: the graph shuffles the roster by the seed, and the worker checked
  // who was on it, not their order: every permutation was another graph under the same seed, so
  // a coordinator searched them (n = 100, 33 colluders: the 136th try) for one whose neighbours
  // of a victim are its own nodes, enough to rebuild both of the victim's secrets.
  const s = honest();
  const reordered = { ...s, config: { ...s.config, clients: s.config.clients.toReversed() } };
  assert.throws(() => checkSession(SPEC, reordered, chain), /config\.clients differs/);
  const shuffled = secureRoundConfig(SPEC, { ...s.config, clients: reordered.config.clients });
  assert.deepEqual(shuffled.clients, s.config.clients, "any order the coordinator gives is sorted");
});

Deno.test("checkSession: refuses an anchor block from before the round opened", () => {
  // A coordinator free to anchor on any past block tries them all for the graph it wants (a
  // victim whose every neighbour is its own node); after the round opened only its blocks count.
  const opened = (block: bigint) => ({ ...chain, roundOpened: block });
  checkSession(SPEC, honest(), opened(17n)); // anchored in the block the round opened in
  assert.throws(
    () => checkSession(SPEC, honest(), opened(18n)),
    /anchor block 17 is older than round 2, opened at block 18/,
  );
});

Deno.test("signSecurePost: only the node's key, for this session, verifies", () => {
  const key = generateNodeKey();
  const context = honest().config.context;
  const post = signSecurePost(key, { jobId: JOB, round: 2, attempt: 0, context }, "{}");
  assert.ok(verifySecurePost(post, context));
  assert.ok(!verifySecurePost({ ...post, message: "{ }" }, context));
  assert.ok(!verifySecurePost(post, context.replace("attempt-0", "attempt-1")));
  assert.ok(!verifySecurePost({ ...post, nodePubkey: generateNodeKey().publicKeyHex }, context));
});

Deno.test("an owner's minInputs binds every session of its job", () => {
  const spec = { ...SPEC, secureAggregation: { ...SPEC.secureAggregation, minInputs: 5 } };
  const s = honest(); // 6 clients
  const context = s.config.context;
  const four = s.config.clients.slice(0, 4);
  assert.throws(
    () => secureRoundConfig(spec, { context, seed: s.config.seed, clients: four }),
    /a roster of 4 is below the job's minimum of 5 inputs/,
  );
  const six = secureRoundConfig(spec, { context, seed: s.config.seed, clients: s.config.clients });
  assert.equal(six.minSurvivors, 5, "no released sum holds fewer than 5 inputs");
});

Deno.test("the consistency check is on unless a spec turns it off", () => {
  const s = honest();
  const at = { context: s.config.context, seed: s.config.seed, clients: s.config.clients };
  const plain = { ...SPEC, secureAggregation: {} };
  assert.equal(secureRoundConfig(plain, at).consistencyCheck, true);
  const off = { ...SPEC, secureAggregation: { consistencyCheck: false } };
  assert.equal(secureRoundConfig(off, at).consistencyCheck, false);
});
