import assert from "node:assert/strict";
import { FedAvg } from "../../../lib/strategy/fed_avg.ts";
import {
  checkClusterMean,
  checkClusterMember,
  type ClusterAggregate,
  combineClusters,
  memberTermLimit,
} from "../../../lib/strategy/hierarchical.ts";
import type { ClientUpdate } from "../../../lib/strategy/strategy.ts";
import { randomUpdates, threeUpdates } from "./_updates.ts";

/** A cluster aggregator's step as a test computes it: FedAvg over the members. */
function cluster(i: number, members: readonly ClientUpdate[]): ClusterAggregate {
  const { delta, accepted, rejected } = new FedAvg().aggregate(members);
  const totalSamples = members
    .filter((u) => accepted.includes(u.nodeId))
    .reduce((a, u) => a + u.numSamples, 0);
  return { clusterId: `cluster-${i}`, delta, totalSamples, accepted, rejected };
}

Deno.test("combineClusters: two cluster means weighted by their samples, worked by hand", () => {
  // Prepare: cluster-0 = {a, b}: (1·[1,2,3] + 2·[2,0,-1]) / 3 = [5/3, 2/3, 1/3], N 3;
  // cluster-1 = {c}: [0, 4, 1], N 1; global = (3·c0 + 1·c1) / 4 = [1.25, 1.5, 0.5].
  const [a, b, c] = threeUpdates();
  const c0 = cluster(0, [a!, b!]);
  // Execute
  const global = combineClusters([c0, cluster(1, [c!])]);
  // Assert
  assert.equal(c0.totalSamples, 3);
  assert.deepEqual([...c0.delta], [5 / 3, 2 / 3, 1 / 3].map(Math.fround));
  assert.deepEqual([...global.delta], [1.25, 1.5, 0.5]);
  assert.deepEqual(global.accepted, ["0xa", "0xb", "0xc"]);
});

Deno.test("combineClusters equals flat FedAvg within f32 rounding", () => {
  const updates = randomUpdates(200, 2_000, 22);
  const flat = new FedAvg().aggregate(updates).delta;
  const clusters = [];
  for (let i = 0; i < updates.length; i += 15) clusters.push(cluster(i, updates.slice(i, i + 15)));
  const result = combineClusters(clusters);
  for (let j = 0; j < flat.length; j++) {
    // Cluster means are rounded to f32 before the global step: the error scales with the
    // largest input at j (cancellation), not with the result.
    const largest = Math.max(...updates.map((u) => Math.abs(u.delta[j]!)));
    const tol = largest * 2 ** -22 + 2 ** -149;
    assert.ok(Math.abs(result.delta[j]! - flat[j]!) <= tol, `element ${j}`);
  }
  assert.equal(result.accepted.length, 200);
});

Deno.test("combineClusters: members a cluster rejected stay rejected; an empty cluster is dropped", () => {
  // Prepare: cluster-0 rejected 0xd; cluster-1 has no samples, so the global step rejects it.
  const [a, b] = threeUpdates();
  const c0 = { ...cluster(0, [a!, b!]), rejected: [{ nodeId: "0xd", reason: "bad" }] };
  const empty = {
    clusterId: "cluster-1",
    delta: new Float32Array(3),
    totalSamples: 0,
    accepted: ["0xe"],
    rejected: [],
  };
  // Execute
  const result = combineClusters([empty, c0]);
  // Assert
  assert.deepEqual([...result.delta], [5 / 3, 2 / 3, 1 / 3].map(Math.fround));
  assert.deepEqual(result.accepted, ["0xa", "0xb"]);
  assert.deepEqual(result.rejected.map((r) => r.nodeId), ["0xd", "cluster-1"]);
  assert.match(result.rejected[1]!.reason, /^cluster: /);
});

/** The largest f32 below `x` (x > 0). */
function f32Below(x: number): number {
  const v = new Float32Array([x]);
  if (v[0]! >= x) new Uint32Array(v.buffer)[0]! -= 1;
  return v[0]!;
}

/** A cluster of `k` members of `n` samples, each at `value` on its only coordinate. */
function clusterAt(k: number, n: number, value: number): ClusterAggregate {
  const members = Array.from({ length: k }, (_, i) => ({
    nodeId: `0x${i.toString(16).padStart(2, "0")}`,
    delta: new Float32Array([value]),
    numSamples: n,
  }));
  return cluster(0, members);
}

Deno.test("attacker: members each at the flat term limit, of one sign, make a mean the global step refuses", () => {
  // Prepare: 16 members of 4 samples, each just under 2^28 / 4 (what a flat FedAvg takes).
  const c = clusterAt(16, 4, f32Below(2 ** 28 / 4));
  // Execute / Assert: samples * mean is the sum of the 16 terms, ~16 x 2^28.
  assert.match(checkClusterMean(c, 1)!, />= 2\^28/);
});

Deno.test("victim: members held to memberTermLimit always make a mean the global step takes", () => {
  for (const [k, n] of [[2, 4], [16, 4], [16, 3], [20, 1024], [1, 7]] as const) {
    // Prepare: k members at the largest value intake takes (a term just under the limit).
    const value = f32Below(memberTermLimit(k) / n);
    const member = { nodeId: "0xa", delta: new Float32Array([value]), numSamples: n };
    assert.equal(checkClusterMember(member, k), undefined, `k ${k} n ${n}`);
    const over = { ...member, delta: new Float32Array([Math.fround(memberTermLimit(k) / n) * 2]) };
    assert.notEqual(checkClusterMember(over, k), undefined, `k ${k} n ${n}`);
    // Execute: their cluster's mean, in the global step beside a small cluster.
    const c = clusterAt(k, n, value);
    const global = combineClusters([c, { ...clusterAt(1, 1, 1), clusterId: "cluster-1" }]);
    // Assert: no cluster left out.
    assert.equal(checkClusterMean(c, 1), undefined, `k ${k} n ${n}`);
    assert.deepEqual(global.rejected, [], `k ${k} n ${n}`);
  }
});
