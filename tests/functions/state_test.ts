import assert from "node:assert/strict";
import {
  getJob,
  getLarge,
  type JobRecord,
  listJobs,
  setJob,
  setLarge,
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

Deno.test("a 1,000-node job record round-trips and guards writes by the head's versionstamp", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const nodes = Array.from(
      { length: 1_000 },
      (_, i) => `0x${i.toString(16).padStart(64, "a")}` as const,
    );
    const job = {
      jobId: "0x" + "11".repeat(32),
      assigned: nodes,
      taskOf: Object.fromEntries(nodes.map((n, i) => [n, i])),
      metrics: [],
      reassigned: [],
    } as unknown as JobRecord;
    assert.ok((await setJob(kv.atomic(), job).commit()).ok);
    const entry = await getJob(kv, job.jobId);
    assert.deepEqual(entry.value, job);
    assert.equal((await listJobs(kv)).length, 1);
    assert.ok(
      (await setJob(kv.atomic().check(entry), { ...job, round: 1 } as JobRecord).commit()).ok,
    );
    // The stale entry no longer passes the check: nothing is counted twice.
    assert.equal((await setJob(kv.atomic().check(entry), job).commit()).ok, false);
  } finally {
    kv.close();
  }
});
