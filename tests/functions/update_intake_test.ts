/**
 * Update intake with the partition codec: a payload must be the part the task gave (slot,
 * round seed, parts), and the round's metric records the update bytes apart from the
 * checkpoint.
 */
import assert from "node:assert/strict";
import { envelopeToJson } from "../../lib/round/update_envelope.ts";
import { readPartitionHeader } from "../../lib/compress/partition.ts";
import { updateKey, type UpdateRecord } from "../../lib/coordinator/state.ts";
import { read, setupCoordinator, type TestNode } from "./_coordinator.ts";

Deno.test("update intake: partition payloads", async (t) => {
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 3, compression: { codec: "partition", parts: 3 } });
  const [n0, n1, n2] = job.nodes as [TestNode, TestNode, TestNode];

  await t.step("each node's task names its slot; its payload holds that part", async () => {
    const slots = [];
    for (const n of job.nodes) {
      const task = await read(await s.call(`/assign?node=${n.nodePubkey}`));
      slots.push(task.body.slot);
    }
    assert.deepEqual(slots, [0, 1, 2]);
    const u = await s.train(job, n0);
    assert.equal(readPartitionHeader(await fx.store.get(u.updateCid)).slot, 0);
    const res = await read(await s.post("/aggregate/update", envelopeToJson(u.envelope)));
    assert.equal(res.status, 201);
  });

  await t.step("another node's part is a 422 naming the slot, before any chain read", async () => {
    const forged = await s.train(job, n1, { slot: 2, commit: false });
    const res = await read(await s.post("/aggregate/update", envelopeToJson(forged.envelope)));
    assert.equal(res.status, 422);
    assert.match(res.body.error.message, /partition slot 2 is not the task's 1/);
    // The node can still deliver its own part afterwards.
    await s.deliver(job, [n1, n2]);
  });

  await t.step("the round closes; its metric counts update bytes apart", async () => {
    const out = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0];
    assert.equal(out.status, "closed");
    const m = (await s.jobRecord(job.jobId)).metrics[0]!;
    assert.equal(m.updates, 3);
    let sum = 0;
    for (const n of job.nodes) {
      const rec = await s.ctx.kv.get<UpdateRecord>(updateKey(job.jobId, 0, n.nodePubkey));
      sum += rec.value!.bytes;
    }
    assert.equal(m.updateBytes, sum);
    assert.ok(m.bytes > sum, "bytes also counts the checkpoint written");
  });
});
