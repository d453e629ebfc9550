import assert from "node:assert/strict";
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
