import assert from "node:assert/strict";
import { SlotFedAvg } from "../../../lib/strategy/slot_fed_avg.ts";
import { StreamingFedAvg } from "../../../lib/strategy/streaming_fed_avg.ts";
import {
  combineRound,
  RoundCombiner,
  type RoundUpdate,
  SLOT_SUM_MIN_LENGTH,
} from "../../../lib/strategy/combine_round.ts";
import { randomUpdates, sameBytes, shuffled } from "./_updates.ts";

Deno.test("SlotFedAvg: the StreamingFedAvg result for the same updates, duplicates and rejects", async () => {
  // Prepare: good updates, a duplicate, a wrong length, a bad weight, a NaN, an out-of-range
  const good = randomUpdates(12, 5_000, 11);
  const nan = { ...good[0]!, nodeId: "0xnan", delta: good[0]!.delta.slice() };
  nan.delta[4_321] = NaN;
  const huge = { ...good[1]!, nodeId: "0xhuge", delta: good[1]!.delta.slice() };
  huge.delta[7] = 2 ** 28;
  const all = [
    ...good,
    { ...good[3]!, delta: good[4]!.delta }, // same nodeId again: ignored
    { ...good[2]!, nodeId: "0xshort", delta: new Float32Array(4) },
    { ...good[2]!, nodeId: "0xzero", numSamples: 0 },
    nan,
    huge,
  ];
  for (const threads of [1, 2]) {
    // the first of two updates with one nodeId counts: the reference sees the same order
    const order = shuffled(all, threads);
    const reference = new StreamingFedAvg(5_000);
    for (const u of order) reference.add(u);
    const expected = reference.finish();
    // Execute: half decoded into the slot, half copied in
    using avg = await SlotFedAvg.open(5_000, { threads, slots: 3 });
    for (const [i, u] of order.entries()) {
      if (i % 2 === 0 && u.delta.length === 5_000) {
        const slot = avg.slot();
        slot.set(u.delta);
        avg.add({ ...u, delta: slot });
      } else avg.add(u);
    }
    const got = avg.finish();
    // Assert
    assert.ok(sameBytes(got.delta, expected.delta), `threads ${threads}`);
    assert.deepEqual(got.accepted, expected.accepted);
    assert.deepEqual(got.rejected.map((r) => r.nodeId), expected.rejected.map((r) => r.nodeId));
    assert.deepEqual(
      got.rejected.filter((r) => r.nodeId === "0xshort" || r.nodeId === "0xzero"),
      expected.rejected.filter((r) => r.nodeId === "0xshort" || r.nodeId === "0xzero"),
    );
    assert.equal(avg.duplicates, 1);
    assert.throws(() => avg.slot(), /already finished/);
  }
});

Deno.test("RoundCombiner.open: a large rule-less round is decoded in place, same bytes as combineRound", async () => {
  // Prepare: stale and fresh updates of a model past the threshold
  const length = SLOT_SUM_MIN_LENGTH + 3;
  const updates: RoundUpdate[] = randomUpdates(3, length, 5).map((u, i) => ({
    ...u,
    slot: i,
    staleness: i,
  }));
  const copies = updates.map((u) => ({ ...u, delta: u.delta.slice() }));
  const expected = combineRound({}, copies);
  // Execute
  using combiner = await RoundCombiner.open({}, length);
  for (const u of updates) {
    const target = combiner.target()!;
    target.set(u.delta); // as the coordinator's streaming decode writes it
    combiner.add({ ...u, delta: target });
  }
  const got = combiner.finish();
  // Assert
  assert.ok(sameBytes(got.delta, expected.delta));
  assert.deepEqual(got.accepted, expected.accepted);
  assert.equal((await RoundCombiner.open({}, 8)).target(), undefined, "small rounds stream");
});
