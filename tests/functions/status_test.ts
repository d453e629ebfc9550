import assert from "node:assert/strict";
import { createStatus } from "../../functions/status.ts";
import type { Context } from "../../lib/coordinator/context.ts";
import { jobKey, jobMetricKey, setLarge } from "../../lib/coordinator/state.ts";
import { countListed } from "../lib/coordinator/_kv_reads.ts";
import { read, setupCoordinator } from "./_coordinator.ts";

Deno.test("status", async (t) => {
  await using fx = await setupCoordinator();
  const s = await fx.scenario();

  await t.step("an empty coordinator lists nothing and its own clock", async () => {
    s.advance(3_600_000);
    const res = await read(await s.call("/status"));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.jobs, []);
    assert.deepEqual(res.body.nodes, []);
    assert.ok(res.body.now >= Date.now() + 3_599_000, "now comes from ctx.now");
  });

  const job = await s.job({ nodes: 2, rounds: 1 });
  await s.deliver(job, job.nodes);
  await s.post("/aggregate", { jobId: job.jobId });

  await t.step("lists jobs with per-round metrics and bound nodes", async () => {
    const res = await read(await s.call("/status/"));
    assert.equal(res.status, 200);
    assert.equal(res.body.jobs.length, 1);
    const j = res.body.jobs[0];
    assert.equal(j.jobId, job.record.jobId);
    assert.equal(j.status, "completed");
    assert.equal(j.metrics.length, 1);
    assert.equal(j.metrics[0].updates, 2);
    assert.deepEqual(
      res.body.nodes.map((n: { nodePubkey: string }) => n.nodePubkey).sort(),
      job.nodes.map((n) => n.nodePubkey).sort(),
    );
  });

  await t.step(
    "attacker: the overview is a page, not every job's assignment and every node",
    async () => {
      // Found in the inference audit: GET /status (unauthenticated, polled by dashboards and by
      // `job submit`) listed every job with its whole assignment and every bound node on each
      // call, megabytes an answer at 10,000 nodes.
      const page = await read(await s.call("/status?nodes=1&jobs=0"));
      assert.equal(page.status, 200);
      assert.equal(page.body.nodes.length, 1);
      assert.deepEqual(page.body.jobs, []);
      assert.equal(page.body.nodeCount, 2);
      assert.equal(page.body.jobCount, 1);
      const whole = await read(await s.call("/status"));
      assert.equal(whole.body.jobs[0].assigned, undefined, "job heads, not their assignments");
      for (const bad of ["nodes=abc", "nodes=10001", "jobs=-1", "jobs=501"]) {
        const res = await read(await s.call(`/status?${bad}`));
        assert.equal(res.status, 400, bad);
        assert.equal(res.body.error.code, "INVALID_FIELD");
      }
    },
  );

  await t.step("?job= returns one job, in any hex case", async () => {
    const res = await read(
      await s.call(`/status?job=${job.jobId.toUpperCase().replace("0X", "0x")}`),
    );
    assert.equal(res.status, 200);
    const rec = await s.jobRecord(job.jobId);
    assert.equal(res.body.jobId, rec.jobId);
    assert.equal(res.body.status, rec.status);
    assert.deepEqual(res.body.metrics, rec.metrics);
    assert.deepEqual(res.body.assigned, rec.assigned);
  });

  await t.step("a bad job id is a 400 naming the query, an unknown one a 404", async () => {
    const bad = await read(await s.call("/status?job=0x12"));
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /"job"/);
    const unknown = await read(await s.call(`/status?job=0x${"31".repeat(32)}`));
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error.message, /unknown job/);
  });

  await t.step("any method but GET is a 405", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      assert.equal((await read(await s.call("/status", { method }))).status, 405);
    }
  });
});

/** A coordinator's status route over a bare KV (no chain: /status reads KV only). */
async function bareStatus() {
  const kv = await Deno.openKv(":memory:");
  const ctx = { kv, now: () => 1_000 } as unknown as Context;
  const status = createStatus(ctx);
  const get = async (query: string) => {
    const res = await status(new Request(`http://c/status${query}`));
    const text = await res.text();
    return { status: res.status, bytes: text.length, body: JSON.parse(text) };
  };
  return { kv, get, [Symbol.dispose]: () => kv.close() };
}

/** A job's head as the coordinator stores it, and one metric entry per closed round. */
async function seedJob(kv: Deno.Kv, n: number, rounds: number, extra: object = {}) {
  const jobId = `0x${n.toString(16).padStart(64, "0")}`;
  const head = {
    jobId,
    specCid: "spec",
    owner: `0x${"11".repeat(20)}`,
    rounds,
    round: rounds,
    status: "finalized",
    assignedCount: 0,
    globalCid: "cid",
    roundOpenedAt: n,
    initialValLoss: 3,
    metrics: [],
    reassigned: [],
    ...extra,
  };
  await setLarge(kv.atomic(), jobKey(jobId), head).commit();
  for (let r = 0; r < rounds; r += 500) {
    const op = kv.atomic();
    for (let k = r; k < Math.min(rounds, r + 500); k++) {
      op.set(jobMetricKey(jobId, k), {
        round: k,
        valLoss: 2.5,
        shardLoss: Array.from({ length: 16 }, (_, i) => 2.5 + i / 1000),
        updates: 10,
        missingCount: 0,
        reason: "all updates",
        bytes: 1e6,
        checkpointCid: `bafk-${n}-${k}`,
        closedAt: 1,
      });
    }
    await op.commit();
  }
  return jobId;
}

Deno.test("attacker: GET /status reads each listed job's newest rounds, not every round of every job ever run", async () => {
  // Found in the coordinator DoS audit: the unauthenticated overview (polled by every open
  // dashboard every 2 s) read every job the coordinator ever ran with every round's metric: 20
  // finished jobs of 1,000 rounds made each call 6 MB, and 0.6 s even with ?jobs=0.
  // Prepare: 20 finalized jobs of 1,000 rounds.
  using c = await bareStatus();
  for (let n = 1; n <= 20; n++) await seedJob(c.kv, n, 1_000);
  const reads = countListed(c.kv);

  // Execute
  const page = await c.get("");

  // Assert: each job's newest 20 rounds and how many it has; the rest is at ?job=.
  assert.equal(page.status, 200);
  assert.ok(reads.listed < 1_000, `${reads.listed} KV entries listed`);
  assert.ok(page.bytes < 300_000, `${page.bytes} bytes`);
  assert.equal(page.body.jobCount, 20);
  assert.equal(page.body.jobs.length, 20);
  for (const j of page.body.jobs) {
    assert.equal(j.metricCount, 1_000);
    assert.deepEqual(j.metrics.map((m: { round: number }) => m.round), range(980, 1_000));
  }

  // Execute: pages of fewer jobs cost fewer reads.
  reads.listed = 0;
  const none = await c.get("?jobs=0&nodes=0");
  const noneListed = reads.listed;
  reads.listed = 0;
  const one = await c.get("?jobs=1");

  // Assert
  assert.deepEqual(none.body.jobs, []);
  assert.equal(none.body.jobCount, 20);
  assert.ok(noneListed <= 20, `${noneListed} KV entries listed for ?jobs=0`);
  assert.equal(one.body.jobs[0].jobId, `0x${(20).toString(16).padStart(64, "0")}`, "newest first");
  assert.ok(reads.listed <= 20 + 20, `${reads.listed} KV entries listed for ?jobs=1`);
});

Deno.test("attacker: GET /status?job= of a long job answers a page of its rounds, not all of them", async () => {
  // Prepare: a job of 2,500 closed rounds.
  using c = await bareStatus();
  const jobId = await seedJob(c.kv, 1, 2_500);
  const reads = countListed(c.kv);

  // Execute
  const first = await c.get(`?job=${jobId}`);

  // Assert: the first 1,000 rounds and how many there are; ?from= reads on.
  assert.ok(reads.listed <= 1_000, `${reads.listed} KV entries listed`);
  assert.equal(first.body.metricCount, 2_500);
  assert.deepEqual(first.body.metrics.map((m: { round: number }) => m.round), range(0, 1_000));
  const rounds = async (query: string) =>
    (await c.get(`?job=${jobId}&${query}`)).body.metrics.map((m: { round: number }) => m.round);
  assert.deepEqual(await rounds("from=2400"), range(2_400, 2_500));
  assert.deepEqual(await rounds("from=10&limit=5"), range(10, 15));
  assert.deepEqual(await rounds("from=3000"), []);
  for (const bad of ["from=-1", "from=x", "limit=1001", "limit=1.5"]) {
    const res = await c.get(`?job=${jobId}&${bad}`);
    assert.equal(res.status, 400, bad);
    assert.equal(res.body.error.code, "INVALID_FIELD");
  }
});

Deno.test("attacker: GET /status of a DP job of 1,000 shards x 5,000 rounds answers what was spent, not 5 million copies", async () => {
  // Found in the coordinator DoS audit: /status rebuilt and sent each shard's copies round by
  // round, 10 MB an unauthenticated call from an 18 KB record (69 bytes with ?jobs=0, after
  // 0.4 s of rebuilding them).
  // Prepare
  using c = await bareStatus();
  const shards = 1_000, rounds = 5_000;
  const privacy = {
    clip: 1,
    epsilon: 1,
    delta: 1e-5,
    maxEpsilon: 8,
    shardRounds: Array(shards).fill(rounds),
    shardEpsilon: Array(shards).fill(1),
    shardCopyRuns: Array.from({ length: shards }, () => [[1, rounds]]),
  };
  const jobId = await seedJob(c.kv, 1, 0, { rounds, round: rounds, privacy });

  // Execute
  const answers = [await c.get(""), await c.get(`?job=${jobId}`), await c.get("?jobs=0&nodes=0")];

  // Assert: the spend of every data owner, none of the copies behind it.
  for (const a of answers) assert.ok(a.bytes < 100_000, `${a.bytes} bytes`);
  for (const job of [answers[0]!.body.jobs[0], answers[1]!.body]) {
    const { shardCopyRuns: _, ...spent } = privacy;
    assert.deepEqual(job.privacy, spent);
  }
});

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
