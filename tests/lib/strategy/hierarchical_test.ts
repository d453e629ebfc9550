import assert from "node:assert/strict";
import { FedAvg } from "../../../lib/strategy/fed_avg.ts";
import { type ClusterAggregate, combineClusters } from "../../../lib/strategy/hierarchical.ts";
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
