import assert from "node:assert/strict";
import { decideRound, dropoutReport, quorumCount } from "../../../lib/job/round_policy.ts";

const assigned = ["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"];

Deno.test("decideRound: all assigned reported closes complete", () => {
  const d = decideRound({ assigned, received: assigned, openedAt: 0, now: 1 });
  assert.equal(d.close, true);
  assert.equal(d.reason, "complete");
  assert.deepEqual(d.missing, []);
});

Deno.test("decideRound: 80% quorum closes, 70% waits", () => {
  // Prepare
  const eight = assigned.slice(0, 8), seven = assigned.slice(0, 7);
  // Execute
  const atQuorum = decideRound({ assigned, received: eight, openedAt: 0, now: 5 });
  const below = decideRound({ assigned, received: seven, openedAt: 0, now: 5 });
  // Assert
  assert.deepEqual(
    [atQuorum.close, atQuorum.reason, atQuorum.quorum, atQuorum.missing],
    [true, "quorum", 8, ["n8", "n9"]],
  );
  assert.deepEqual([below.close, below.reason, below.received], [false, "waiting", 7]);
});

Deno.test("decideRound: quorum grace waits for stragglers, then closes", () => {
  const received = assigned.slice(0, 9);
  const policy = { quorumGraceMs: 1_000 };
  const early = decideRound(
    { assigned, received, openedAt: 0, now: 1_500, quorumReachedAt: 1_000 },
    policy,
  );
  const late = decideRound(
    { assigned, received, openedAt: 0, now: 2_000, quorumReachedAt: 1_000 },
    policy,
  );
  assert.equal(early.close, false);
  assert.deepEqual([late.close, late.reason], [true, "quorum"]);
});

Deno.test("decideRound: deadline closes partial rounds, or fails below minUpdates", () => {
  // Prepare
  const policy = { deadlineMs: 60_000, minUpdates: 3 };
  // Execute
  const before = decideRound(
    { assigned, received: ["n1", "n2", "n3"], openedAt: 0, now: 59_999 },
    policy,
  );
  const partial = decideRound(
    { assigned, received: ["n1", "n2", "n3"], openedAt: 0, now: 60_000 },
    policy,
  );
  const failed = decideRound(
    { assigned, received: ["n1", "n2"], openedAt: 0, now: 90_000 },
    policy,
  );
  // Assert
  assert.deepEqual([before.close, before.reason], [false, "waiting"]);
  assert.deepEqual([partial.close, partial.ok, partial.reason], [true, true, "deadline"]);
  assert.deepEqual([failed.close, failed.ok, failed.reason], [true, false, "insufficient"]);
});

Deno.test("decideRound: duplicates count once, unassigned updates are ignored", () => {
  const received = ["n0", "n0", "n0", "n1", "x", "y", "z", "w", "v", "u", "t"];
  const d = decideRound({ assigned, received, openedAt: 0, now: 1 });
  assert.deepEqual([d.close, d.received], [false, 2]);
  assert.deepEqual(d.unexpected, ["t", "u", "v", "w", "x", "y", "z"]);
});

Deno.test("quorumCount: integer basis points, no float surprises", () => {
  assert.equal(quorumCount(10), 8);
  assert.equal(quorumCount(9), 8); // ceil(7.2)
  assert.equal(quorumCount(10, 7_000), 7); // 0.7 * 10 would be 7.000000000000001 in floats
  assert.equal(quorumCount(1_000), 800);
  assert.throws(() => quorumCount(10, 10_001), RangeError);
  assert.throws(() => quorumCount(10, 0.8), RangeError);
});

Deno.test("dropoutReport: who is missing, participation in bps", () => {
  const r = dropoutReport(["a", "b", "c"], ["b", "d"]);
  assert.deepEqual(r, {
    missing: ["a", "c"],
    unexpected: ["d"],
    reported: 1,
    participationBps: 3_333,
  });
});
