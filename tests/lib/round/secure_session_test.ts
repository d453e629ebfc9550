/**
 * What a worker checks before it joins a secure round, from the side of a coordinator that lies:
 * a graph seed it picked (or took from another block), less DP noise, no consistency check,
 * another clip or degree, a session of another round; and a message signed by someone else.
 */
import assert from "node:assert/strict";
import type { Hex } from "../../../lib/crypto/digest.ts";
import { generateNodeKey } from "../../../lib/crypto/keys.ts";
import type { JobSpec } from "../../../lib/job/job_spec.ts";
import { resolveParams } from "../../../lib/privacy/secure_aggregation/params.ts";
import {
  anchorBlocks,
  checkSession,
  MAX_SECURE_ATTEMPTS,
  minSecureDegree,
  rosterAt,
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

const ROSTER = Array.from({ length: 6 }, () => generateNodeKey().publicKeyHex.toLowerCase());
/** The job opened round 2 at block 17, where its six nodes were assigned. */
const ASSIGNED = ROSTER.map((node) => ({ block: 17n, node }));

function honest(
  o: { attempt?: number; anchor?: bigint; clients?: string[]; hash?: Hex; assigned?: string[] } =
    {},
): SecureSessionInfo {
  const attempt = o.attempt ?? 0;
  const at = { chainId: 31337, jobId: JOB, round: 2 };
  const context = secureContext({ ...at, attempt });
  const seed = secureSeed(at, o.hash ?? BLOCK);
  const clients = o.clients ?? ROSTER;
  const assigned = o.assigned ?? ROSTER;
  const config = secureRoundConfig(SPEC, { context, seed, clients, assigned });
  const anchorBlock = String(o.anchor ?? 17n);
  return { jobId: JOB, round: 2, attempt, anchorBlock, blockHash: o.hash ?? BLOCK, config };
}

const chain = { chainId: 31337, blockHash: BLOCK, roundOpened: 17n, assignments: ASSIGNED };

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
      (s) => {
        const context = secureContext({ chainId: 31337, jobId: JOB, round: 2, attempt: 1 });
        const clients = s.config.clients.slice(0, 2); // a retry may leave nodes out
        return { ...s, attempt: 1, config: { ...s.config, context, clients } };
      },
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
  const shuffled = secureRoundConfig(SPEC, {
    ...s.config,
    clients: reordered.config.clients,
    assigned: ROSTER,
  });
  assert.deepEqual(shuffled.clients, s.config.clients, "any order the coordinator gives is sorted");
});

Deno.test("checkSession: refuses an anchor block from before the round opened", () => {
  // A coordinator free to anchor on any past block tries them all for the graph it wants (a
  // victim whose every neighbour is its own node); after the round opened only its blocks count.
  checkSession(SPEC, honest(), chain); // anchored in the block the round opened in
  assert.throws(
    () => checkSession(SPEC, honest(), { ...chain, roundOpened: 18n }),
    /anchor block 17 did not fix round 2's roster \(blocks that did: 18\)/,
  );
});

/** Whether `mine` holds enough of `victim`'s neighbours to rebuild its secrets. */
function surrounds(s: SecureSessionInfo, victim: string, mine: Set<string>): boolean {
  const p = resolveParams(s.config);
  return p.neighbours.get(victim)!.filter((n) => mine.has(n)).length >= p.threshold;
}

Deno.test("attacker: a coordinator cannot re-roll the graph by its anchor block or attempt", () => {
  // Found in the privacy audit: the seed named the attempt (any number up to 1,000), and its
  // anchor was any block since the round opened. Every pair was another neighbour graph, so a
  // coordinator with a third of the nodes searched them offline for one that surrounds a victim
  // with its own nodes (then they hold shares of both the victim's secrets and unmask its update).
  const victim = ROSTER[0]!;
  const mine = new Set(ROSTER.slice(3)); // the coordinator's three nodes
  const hashOf = (block: number) => `0x${block.toString(16).padStart(64, "0")}` as Hex;
  const surrounded = (s: SecureSessionInfo) => surrounds(s, victim, mine);
  // The search: blocks 17-40 mined in the round (heartbeats, commits), attempts 0-40.
  let found: SecureSessionInfo | undefined;
  for (let block = 18; block <= 40 && !found; block++) {
    for (let attempt = 0; attempt <= 40 && !found; attempt++) {
      const s = honest({ attempt, anchor: BigInt(block), hash: hashOf(block) });
      if (surrounded(s)) found = s;
    }
  }
  assert.ok(found, "the search finds a graph that surrounds the victim");
  const theirs = { ...chain, blockHash: found.blockHash };
  assert.throws(
    () => checkSession(SPEC, found, theirs),
    /anchor block \d+ did not fix round 2's roster \(blocks that did: 17\)|attempt \d+ is past/,
  );
  // What is left to it: the round's one anchor, whose graph every attempt shares.
  const seeds = new Set(
    Array.from({ length: MAX_SECURE_ATTEMPTS }, (_, attempt) => honest({ attempt }).config.seed),
  );
  assert.equal(seeds.size, 1, "a retry is no new draw");
  assert.throws(
    () => checkSession(SPEC, honest({ attempt: MAX_SECURE_ATTEMPTS }), chain),
    /attempt 4 is past the last \(3\)/,
  );
});

Deno.test("attacker: a first attempt's roster is every node assigned at the anchor", () => {
  // Leaving out any subset of honest nodes was another graph under the same seed: C(100, 2) =
  // 4,950 draws from dropping two of a hundred. A retry may leave out the nodes that sent a
  // masked input before (the worker cannot tell which did), but no one who was not assigned.
  const five = ROSTER.slice(1);
  assert.throws(
    () => checkSession(SPEC, honest({ clients: five }), chain),
    /a first attempt's roster must be every node assigned at block 17: 5 of 6/,
  );
  checkSession(SPEC, honest({ attempt: 1, clients: five }), chain);
  const stranger = generateNodeKey().publicKeyHex.toLowerCase();
  assert.throws(
    () => checkSession(SPEC, honest({ attempt: 1, clients: [...five.slice(1), stranger] }), chain),
    new RegExp(`roster member ${stranger} was not assigned to the job at block 17`),
  );
});

Deno.test("a reassignment in the round is an anchor, with the roster it made", () => {
  const fresh = generateNodeKey().publicKeyHex.toLowerCase();
  const changes = [...ASSIGNED, { block: 23n, node: fresh, replaced: ROSTER[2]! }];
  assert.deepEqual(anchorBlocks(changes, 17n), [17n, 23n]);
  assert.deepEqual(anchorBlocks(changes, 30n), [30n], "the changes before the round do not count");
  const after = rosterAt(changes, 23n);
  assert.deepEqual(after, [...ROSTER.filter((n) => n !== ROSTER[2]), fresh].sort());
  assert.deepEqual(rosterAt(changes, 22n), [...ROSTER].sort());
  const hash = `0x${"77".repeat(32)}` as Hex;
  const s = honest({ anchor: 23n, clients: after, hash, assigned: after });
  checkSession(SPEC, s, { ...chain, assignments: changes, blockHash: hash });
  assert.throws(
    () =>
      checkSession(SPEC, honest({ anchor: 23n, hash }), {
        ...chain,
        assignments: changes,
        blockHash: hash,
      }),
    new RegExp(`roster member ${ROSTER[2]} was not assigned to the job at block 23`),
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
    () =>
      secureRoundConfig(spec, { context, seed: s.config.seed, clients: four, assigned: ROSTER }),
    /a roster of 4 is below the job's minimum of 5 inputs/,
  );
  const six = secureRoundConfig(spec, {
    context,
    seed: s.config.seed,
    clients: s.config.clients,
    assigned: ROSTER,
  });
  assert.equal(six.minSurvivors, 5, "no released sum holds fewer than 5 inputs");
});

Deno.test("the consistency check is on unless a spec turns it off", () => {
  const s = honest();
  const { context, seed, clients } = s.config;
  const at = { context, seed, clients, assigned: clients };
  const plain = { ...SPEC, secureAggregation: {} };
  assert.equal(secureRoundConfig(plain, at).consistencyCheck, true);
  const off = { ...SPEC, secureAggregation: { consistencyCheck: false } };
  assert.equal(secureRoundConfig(off, at).consistencyCheck, false);
});

Deno.test("attacker: a retry's roster cannot shrink below the first attempt's survivors", () => {
  // Found in the privacy audit: each attempt's minSurvivors was 2/3 of its own roster. Six nodes:
  // a slow victim is left out of attempt 0's keys, two colluders withhold their masked inputs so
  // the three honest ones (3 < 4) fail it and sit the retry out; the retry's roster is the victim
  // and the two colluders, its bound 3, and the colluders' known inputs leave the victim's update
  // as the sum. Every attempt keeps 2/3 of the six assigned (4), so no such retry runs.
  const [victim, c1, c2] = ROSTER;
  const retry = [victim!, c1!, c2!];
  const at = { chainId: 31337, jobId: JOB, round: 2 };
  const context = secureContext({ ...at, attempt: 1 });
  const seed = secureSeed(at, BLOCK);
  const low = { ...secureRoundConfig(SPEC, { context, seed, clients: ROSTER, assigned: ROSTER }) };
  const lied: SecureSessionInfo = {
    ...honest({ attempt: 1, clients: ROSTER.slice(0, 4) }),
    config: { ...low, clients: [...retry].sort(), minSurvivors: 3 },
  };
  assert.throws(
    () => checkSession(SPEC, lied, chain),
    /a roster of 3 is below the round's 4 survivors \(2\/3 of the 6 nodes assigned/,
  );
  assert.throws(
    () => secureRoundConfig(SPEC, { context, seed, clients: retry, assigned: ROSTER }),
    /a roster of 3 is below the round's 4 survivors/,
  );
  // A retry of four of the six keeps the first attempt's bound.
  const four = secureRoundConfig(SPEC, {
    context,
    seed,
    clients: ROSTER.slice(0, 4),
    assigned: ROSTER,
  });
  assert.equal(four.minSurvivors, 4);
  checkSession(SPEC, honest({ attempt: 1, clients: ROSTER.slice(0, 4) }), chain);
});

Deno.test("attacker: a spec's degree of 2 gives no two nodes a victim's secrets in a large round", () => {
  // Found in the secure aggregation audit: `degree: 2` was taken as is for any roster, so each
  // secret was rebuilt from 2 shares and two colluders beside a victim unmasked it.
  const clients = Array.from({ length: 1000 }, (_, i) => `0x${i.toString(16).padStart(64, "0")}`);
  const at = { chainId: 31337, jobId: JOB, round: 0 };
  const config = secureRoundConfig(
    { ...SPEC, secureAggregation: { degree: 2 } },
    {
      context: secureContext({ ...at, attempt: 0 }),
      seed: secureSeed(at, BLOCK),
      clients,
      assigned: clients,
    },
  );
  assert.equal(config.degree, minSecureDegree(1000));
  assert.equal(resolveParams(config).threshold, 16, "16 of a node's 30 neighbours to rebuild");
  // A small round is the complete graph whatever the spec asks.
  const six = secureRoundConfig({ ...SPEC, secureAggregation: { degree: 2 } }, {
    context: secureContext({ ...at, attempt: 0 }),
    seed: secureSeed(at, BLOCK),
    clients: ROSTER,
    assigned: ROSTER,
  });
  assert.equal(six.degree, 5);
});

Deno.test("attacker: a coordinator claiming nodes dropped cannot draw a retry's graph afresh", () => {
  // Found in the secure aggregation audit: each retry's graph was drawn over its own roster, so a
  // coordinator that claimed some nodes had sent a masked input (workers cannot check it) tried
  // subsets offline until its colluders were most of a victim's neighbours (~265 tries at 100
  // nodes, 25 colluding). A retry's neighbours are now the anchor roster graph's, less those left
  // out: leaving nodes out only takes neighbours away.
  const roster = Array.from(
    { length: 60 },
    (_, i) => `0x${(i + 1).toString(16).padStart(64, "0")}`,
  );
  const at = { chainId: 31337, jobId: JOB, round: 2 };
  const seed = secureSeed(at, BLOCK);
  const config = (attempt: number, clients: string[]) =>
    resolveParams(secureRoundConfig(SPEC, {
      context: secureContext({ ...at, attempt }),
      seed,
      clients,
      assigned: roster,
    }));
  const first = config(0, roster).neighbours;
  assert.ok(first.get(roster[0]!)!.length < 59, "not the complete graph");
  for (let trial = 0; trial < 20; trial++) {
    // The subset a coordinator would pick: 45 of the 60 (a retry keeps 2/3 of the roster).
    const out = new Set(roster.filter((_, i) => (i * 7 + trial * 13) % 4 === 0).slice(0, 15));
    const retry = config(1, roster.filter((n) => !out.has(n))).neighbours;
    for (const [node, neighbours] of retry) {
      const before = new Set(first.get(node));
      assert.ok(
        neighbours.every((v) => before.has(v)),
        `trial ${trial}: ${node} got a new neighbour`,
      );
    }
  }
});

Deno.test("attacker: a retry's session naming another graph roster is refused", () => {
  // Found reviewing the restricted retries: nothing tested that a worker checks graphClients, so
  // a coordinator could have named a roster of its choosing to draw the graph over.
  const retry = ROSTER.slice(0, 5);
  const s = honest({ attempt: 1, clients: retry });
  assert.deepEqual(s.config.graphClients, [...ROSTER].sort());
  checkSession(SPEC, s, chain);
  for (const graphClients of [undefined, retry, [...ROSTER.slice(1)].sort()]) {
    assert.throws(
      () => checkSession(SPEC, { ...s, config: { ...s.config, graphClients } }, chain),
      /config.graphClients differs/,
    );
  }
});
