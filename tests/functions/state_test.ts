import assert from "node:assert/strict";
import type { Hex } from "viem";
import {
  getAssignment,
  getJob,
  getJobNode,
  getLarge,
  holdsTask,
  type JobHead,
  listJobHeads,
  listJobs,
  moveNode,
  setAssignment,
  setJob,
  setLarge,
  withAssignment,
} from "../../lib/coordinator/state.ts";

Deno.test("setLarge/getLarge store values above the 64 KiB KV limit in parts", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const big = {
      nodes: Array.from({ length: 3_000 }, (_, i) => `0x${i.toString(16).padStart(64, "0")}`),
    };
    await setLarge(kv.atomic(), ["closing", "j", 0], big).commit();
    const back = await getLarge<typeof big>(kv, ["closing", "j", 0]);
    assert.deepEqual(back.value, big);
    // A smaller rewrite of the same key reads back exactly (stale parts are ignored).
    await setLarge(kv.atomic().check(back), ["closing", "j", 0], { nodes: ["a"] }).commit();
    assert.deepEqual((await getLarge(kv, ["closing", "j", 0])).value, { nodes: ["a"] });
  } finally {
    kv.close();
  }
});

Deno.test("a 10,000-node job keeps a constant-size head and one entry per node", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const nodes = Array.from(
      { length: 10_000 },
      (_, i) => `0x${(i + 1).toString(16).padStart(64, "0")}` as Hex,
    );
    const job = {
      jobId: `0x${"11".repeat(32)}`,
      round: 0,
      assignedCount: nodes.length,
      metrics: [],
      reassigned: [],
    } as unknown as JobHead;
    const assignment = {
      assigned: nodes,
      taskOf: Object.fromEntries(nodes.map((n, i) => [n, i >> 1])),
    };
    assert.ok(await setAssignment(kv, job.jobId, assignment));
    // The head is written with the assignment left out, whatever it is given.
    assert.ok((await setJob(kv.atomic(), { ...job, ...assignment }).commit()).ok);
    const entry = await getJob(kv, job.jobId);
    assert.deepEqual(entry.value, job);
    assert.ok(JSON.stringify(entry.value).length < 1_000, "the head does not grow with nodes");
    // Once the head exists, the assignment is not rewritten around it.
    assert.equal(await setAssignment(kv, job.jobId, assignment), false);
    assert.deepEqual(await getJobNode(kv, job.jobId, nodes[7]!), { task: 3, index: 7 });
    assert.equal(await getJobNode(kv, job.jobId, `0x${"99".repeat(32)}`), null);
    const [listed] = await listJobs(kv);
    assert.deepEqual(listed, { ...job, ...assignment });
    assert.deepEqual((await listJobHeads(kv))[0], job);

    // A move hands node 7's place to a newcomer in the same write as the head.
    const to = `0x${"77".repeat(32)}` as Hex;
    const op = setJob(kv.atomic().check(entry), { ...job, round: 1 });
    const place = (await getJobNode(kv, job.jobId, nodes[7]!))!;
    assert.ok((await moveNode(op, job.jobId, { from: nodes[7]!, to, place }).commit()).ok);
    const moved = await withAssignment(kv, (await getJob(kv, job.jobId)).value!);
    assert.equal(moved.assigned[7], to);
    assert.equal(moved.assigned.length, nodes.length);
    assert.equal(moved.taskOf[to], 3);
    assert.equal(moved.taskOf[nodes[7]!], 3, "the old holder's task stays known");
    assert.equal(holdsTask(await getJobNode(kv, job.jobId, nodes[7]!)), false);
    // The stale entry no longer passes the check: nothing is counted twice.
    assert.equal((await setJob(kv.atomic().check(entry), job).commit()).ok, false);
  } finally {
    kv.close();
  }
});

Deno.test("a repeat read under the same head is the same assignment; a new head reads anew", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const a = `0x${"0a".repeat(32)}` as Hex, b = `0x${"0b".repeat(32)}` as Hex;
    const job = {
      jobId: `0x${"22".repeat(32)}`,
      assignedCount: 1,
      metrics: [],
    } as unknown as JobHead;
    await setAssignment(kv, job.jobId, { assigned: [a], taskOf: { [a]: 0 } });
    await setJob(kv.atomic(), job).commit();
    const entry = await getJob(kv, job.jobId);
    const first = await getAssignment(kv, job.jobId, entry.versionstamp);
    assert.equal(await getAssignment(kv, job.jobId, entry.versionstamp), first);
    assert.throws(() => first.assigned.push(b), TypeError, "frozen: callers copy to change");
    const op = setJob(kv.atomic().check(entry), job);
    await moveNode(op, job.jobId, { from: a, to: b, place: { task: 0, index: 0 } }).commit();
    const next = await getJob(kv, job.jobId);
    assert.deepEqual((await getAssignment(kv, job.jobId, next.versionstamp)).assigned, [b]);
  } finally {
    kv.close();
  }
});
