import assert from "node:assert/strict";
import { FedMedian } from "../../../lib/strategy/fed_median.ts";
import { TrimmedMean } from "../../../lib/strategy/trimmed_mean.ts";
import { Krum } from "../../../lib/strategy/krum.ts";
import { Bulyan } from "../../../lib/strategy/bulyan.ts";
import { assertClose, upd } from "./_fixtures.ts";

// Three tiny updates worked by hand:
//   A = [1, 2, 3] (n=1), B = [2, 0, -1] (n=2), C = [0, 4, 10] (n=1)
//   coordinate-wise sorted: {0,1,2}, {0,2,4}, {-1,3,10}
//   median [1, 2, 3]; unweighted mean [1, 2, 4]
//   squared distances: AB = 1+4+16 = 21, AC = 1+4+49 = 54, BC = 4+16+121 = 141
const three = () => [upd("0xc", [0, 4, 10]), upd("0xa", [1, 2, 3]), upd("0xb", [2, 0, -1], 2)];

Deno.test("median: coordinate-wise middle value", () => {
  // Prepare
  const strategy = new FedMedian();
  // Execute
  const r = strategy.aggregate(three());
  // Assert
  assertClose(r.delta, [1, 2, 3]);
  assert.deepEqual(r.accepted, ["0xa", "0xb", "0xc"]);
  assert.deepEqual(r.rejected, []);
});

Deno.test("median: even count averages the middle two; invalid updates are skipped", () => {
  const r = new FedMedian().aggregate([
    ...three(),
    upd("0xd", [5, 5, 5]),
    upd("0xe", [1, 1]), // wrong length
    upd("0xf", [NaN, 0, 0]),
  ]);
  assertClose(r.delta, [1.5, 3, 4]); // {0,1,2,5} {0,2,4,5} {-1,3,5,10}
  assert.deepEqual(r.rejected.map((x) => x.nodeId), ["0xe", "0xf"]);
});

Deno.test("trimmed mean: beta=0 is the unweighted mean, beta=1/3 trims one each side", () => {
  assertClose(new TrimmedMean({ beta: 0 }).aggregate(three()).delta, [1, 2, 4]);
  assertClose(new TrimmedMean({ beta: 0.34 }).aggregate(three()).delta, [1, 2, 3]);
  assert.throws(() => new TrimmedMean({ beta: 0.5 }), RangeError);
});

Deno.test("krum: f=0 keeps the update nearest its neighbour (tie A/B broken by nodeId)", () => {
  // scores (1 neighbour): A = min(21, 54) = 21, B = min(21, 141) = 21, C = 54
  const r = new Krum({ f: 0 }).aggregate(three());
  assertClose(r.delta, [1, 2, 3]);
  assert.deepEqual(r.accepted, ["0xa"]);
  assert.deepEqual(r.rejected.map((x) => x.nodeId), ["0xb", "0xc"]);
  assert.match(r.rejected[1]!.reason, /krum: score 54\.00 ranked 3 of 3/);
});

Deno.test("multi-krum: m=2 averages A and B, uniformly or by samples", () => {
  assertClose(new Krum({ f: 0, m: 2 }).aggregate(three()).delta, [1.5, 1, 1]);
  const bySamples = new Krum({ f: 0, m: 2, weighting: "samples" }).aggregate(three());
  assertClose(bySamples.delta, [5 / 3, 2 / 3, 1 / 3]); // (1*A + 2*B) / 3
  assert.throws(() => new Krum({ f: 1 }).aggregate(three()), /need at least 2f \+ 3 = 5/);
});

Deno.test("bulyan: f=1 on seven scalars 1..6, 900 selects 1..5 and averages 2, 3, 4", () => {
  // Iterated Krum picks 3, 4, 2, 5, 1 (see the worked steps in the report); theta = 5,
  // beta = theta - 2f = 3 values closest to the median 3: {2, 3, 4} -> 3.
  const ids = ["0xa", "0xb", "0xc", "0xd", "0xe", "0xf", "0xg"];
  const r = new Bulyan({ f: 1 }).aggregate(
    [1, 2, 3, 4, 5, 6, 900].map((x, i) => upd(ids[i]!, [x])),
  );
  assertClose(r.delta, [3]);
  assert.deepEqual(r.accepted, ["0xa", "0xb", "0xc", "0xd", "0xe"]);
  assert.deepEqual(r.rejected.map((x) => x.nodeId), ["0xf", "0xg"]);
  assert.throws(() => new Bulyan({ f: 1 }).aggregate(three()), /need at least 4f \+ 3 = 7/);
});

Deno.test("results do not depend on arrival order; conflicting duplicates are rejected", () => {
  const u = three();
  for (const s of [new FedMedian(), new TrimmedMean(), new Krum({ f: 0, m: 2 })]) {
    assert.deepEqual(s.aggregate(u).delta, s.aggregate([...u].reverse()).delta);
  }
  const r = new FedMedian().aggregate([...u, upd("0xa", [9, 9, 9]), upd("0xb", [2, 0, -1], 2)]);
  assert.deepEqual(r.accepted, ["0xb", "0xc"]); // 0xb's copy is identical: counted once
  assert.match(r.rejected[0]!.reason, /2 conflicting updates from one node/);
  assert.throws(() => new FedMedian().aggregate([]), /Cannot aggregate with median: no updates/);
});
