import assert from "node:assert/strict";
import type { JobSpec } from "../../../lib/job/job_spec.ts";
import {
  appendCopies,
  copiesPerRound,
  ownerEpsilon,
  secureRoundPrivacy,
} from "../../../lib/coordinator/privacy.ts";
import type { JobRecord } from "../../../lib/coordinator/state.ts";

const POLICY = { clip: 1, noiseMultiplier: 1.1, delta: 1e-5, maxEpsilon: 1e6 };
const spec = { shards: [{}, {}], privacy: POLICY } as unknown as JobSpec;
/** Nodes a and b train shard 0, c shard 1 (task t trains shard t mod 2). */
const taskOf = { a: 0, b: 2, c: 1 };

function jobAfter(rounds: number, extra: Partial<NonNullable<JobRecord["privacy"]>> = {}) {
  const privacy = {
    clip: 1,
    epsilon: 0,
    delta: POLICY.delta,
    maxEpsilon: POLICY.maxEpsilon,
    shardRounds: [rounds, rounds],
    shardEpsilon: [0, 0],
    shardCopyRuns: [[[1, rounds]], [[1, rounds - 1], [2, 1]]] as [number, number][][],
    ...extra,
  };
  return { jobId: "0x1", taskOf, privacy } as unknown as JobRecord;
}

Deno.test("a round charged on runs costs each data owner what it costs round by round", () => {
  // Prepare: 5,000 rounds kept as runs (the record no longer lists them round by round).
  const job = jobAfter(5_000);
  const before = structuredClone(job.privacy);

  // Execute: a round with shard 0 in two updates, shard 1 in one.
  const report = secureRoundPrivacy(spec, job, ["a", "b", "c"])!;

  // Assert
  assert.deepEqual(report.shardCopyRuns, [[[1, 5_000], [2, 1]], [[1, 4_999], [2, 1], [1, 1]]]);
  assert.deepEqual(report.shardRounds, [5_001, 5_001]);
  report.shardCopyRuns.forEach((runs, s) => {
    const roundByRound = ownerEpsilon(POLICY, copiesPerRound(runs));
    const got = report.shardEpsilon[s]!;
    assert.ok(Math.abs(got - roundByRound) <= 1e-9 * roundByRound, `${got} vs ${roundByRound}`);
  });
  assert.equal(report.epsilon, Math.max(...report.shardEpsilon));
  assert.deepEqual(job.privacy, before, "the record read is left as it was");
});

Deno.test("an old job's per-round noise is still charged round by round", () => {
  // Prepare: secure rounds charged before at the noise that survived (shardNoise).
  const job = jobAfter(3, { shardNoise: [[2, 2, 2], [2, 2, 2]] });

  // Execute
  const report = secureRoundPrivacy(spec, job, ["c"])!;

  // Assert: shard 0 was not in the round, shard 1 once more at the policy's z.
  const z = POLICY.noiseMultiplier;
  assert.deepEqual(report.shardNoise, [[2, 2, 2], [2, 2, 2, z]]);
  assert.equal(report.shardEpsilon[0], ownerEpsilon(POLICY, [1, 1, 1], [2, 2, 2]));
  assert.equal(report.shardEpsilon[1], ownerEpsilon(POLICY, [1, 1, 2, 1], [2, 2, 2, z]));
});

Deno.test("copies are appended to the last run when the count repeats", () => {
  assert.deepEqual(appendCopies([], 3), [[3, 1]]);
  assert.deepEqual(appendCopies([[3, 1]], 3), [[3, 2]]);
  assert.deepEqual(copiesPerRound(appendCopies([[3, 2]], 1)), [3, 3, 1]);
});
