import assert from "node:assert/strict";
import { FedAvg } from "../../../lib/strategy/fed_avg.ts";
import {
  aggregateCluster,
  clusterUpdates,
  combineClusters,
  Hierarchical,
} from "../../../lib/strategy/hierarchical.ts";
import { randomUpdates, sameBytes, shuffled, threeUpdates } from "./_updates.ts";

Deno.test("Hierarchical: three updates in clusters of 2, worked by hand", () => {
  // Prepare: cluster-0 = {a, b}: (1·[1,2,3] + 2·[2,0,-1]) / 3 = [5/3, 2/3, 1/3], N 3;
  // cluster-1 = {c}: [0, 4, 1], N 1; global = (3·c0 + 1·c1) / 4 = [1.25, 1.5, 0.5].
  const updates = threeUpdates();
  // Execute
  const clusters = clusterUpdates(updates, 2);
  const c0 = aggregateCluster("cluster-0", clusters[0]!, 3);
  const global = combineClusters([c0, aggregateCluster("cluster-1", clusters[1]!, 3)]);
  // Assert
  assert.equal(c0.totalSamples, 3);
  assert.deepEqual([...c0.delta], [5 / 3, 2 / 3, 1 / 3].map(Math.fround));
  assert.deepEqual([...global.delta], [1.25, 1.5, 0.5]);
  assert.deepEqual(global.accepted, ["0xa", "0xb", "0xc"]);
});

Deno.test("Hierarchical: exact combine is bit-identical to flat FedAvg (1,000 nodes)", () => {
  // Prepare
  const updates = randomUpdates(1_000, 500, 21);
  const flat = new FedAvg().aggregate(updates);
  // Execute
  const result = new Hierarchical({ clusterSize: 20 }).aggregate(shuffled(updates, 3));
  // Assert
  assert.ok(sameBytes(result.delta, flat.delta));
  assert.deepEqual(result.accepted, flat.accepted);
});

Deno.test("Hierarchical: mean combine equals flat FedAvg within f32 rounding", () => {
  const updates = randomUpdates(200, 2_000, 22);
  const flat = new FedAvg().aggregate(updates).delta;
  const result = new Hierarchical({ clusterSize: 15, combine: "mean" }).aggregate(updates);
  for (let j = 0; j < flat.length; j++) {
    // Cluster means are rounded to f32 before the global step: the error scales with the
    // largest input at j (cancellation), not with the result.
    const largest = Math.max(...updates.map((u) => Math.abs(u.delta[j]!)));
    const tol = largest * 2 ** -22 + 2 ** -149;
    assert.ok(Math.abs(result.delta[j]! - flat[j]!) <= tol, `element ${j}`);
  }
  assert.equal(result.accepted.length, 200);
});

Deno.test("Hierarchical: bad updates skipped and counted; an all-bad cluster is dropped", () => {
  // Prepare: cluster of 2 sorted ids -> {0xa, 0xb}, {0xc, 0xd}; 0xc and 0xd are bad.
  const [a, b] = threeUpdates();
  const updates = [
    a!,
    b!,
    { nodeId: "0xc", delta: new Float32Array([NaN, 0, 0]), numSamples: 1 },
    { nodeId: "0xd", delta: new Float32Array([1, 2, 3]), numSamples: 0 },
  ];
  for (const combine of ["exact", "mean"] as const) {
    // Execute
    const result = new Hierarchical({ clusterSize: 2, combine }).aggregate(updates);
    // Assert
    assert.deepEqual([...result.delta], [5 / 3, 2 / 3, 1 / 3].map(Math.fround), combine);
    assert.deepEqual(result.rejected.map((r) => r.nodeId), ["0xc", "0xd"], combine);
  }
});

Deno.test("clusterUpdates: deterministic, sorted, sizes 10-20 by default", () => {
  const updates = randomUpdates(35, 1, 1);
  const a = clusterUpdates(shuffled(updates, 1)).map((c) => c.map((u) => u.nodeId));
  const b = clusterUpdates(shuffled(updates, 2)).map((c) => c.map((u) => u.nodeId));
  assert.deepEqual(a, b);
  assert.deepEqual(a.map((c) => c.length), [16, 16, 3]);
  assert.throws(() => clusterUpdates(updates, 0), RangeError);
});
