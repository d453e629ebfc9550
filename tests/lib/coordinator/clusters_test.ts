import assert from "node:assert/strict";
import { auditDrawn, clustersOf } from "../../../lib/coordinator/clusters.ts";
import { read, setupCoordinator } from "../../functions/_coordinator.ts";
import { countStoreReads } from "./_store_reads.ts";

const JOB = `0x${"ab".repeat(32)}` as const;

Deno.test("a cluster's audit draw is the coordinator's secret's: public data does not tell it", () => {
  const [a, b] = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
  const draws = (secret: Uint8Array, cid: string) =>
    Array.from(
      { length: 64 },
      (_, cluster) => auditDrawn(secret, { jobId: JOB, round: 3, cluster, aggregateCid: cid }, 0.5),
    );
  // The same secret and submission always draw the same (a restart re-derives the audit) ...
  assert.deepEqual(draws(a, "bafy1"), draws(a, "bafy1"));
  // ... another secret, or another submitted aggregate, draws otherwise.
  assert.notDeepEqual(draws(a, "bafy1"), draws(b, "bafy1"));
  assert.notDeepEqual(draws(a, "bafy1"), draws(a, "bafy2"));
  // The rate is kept: about half of 64 at 0.5, none at 0, all at 1.
  const n = draws(a, "bafy1").filter(Boolean).length;
  assert.ok(n > 16 && n < 48, `${n} of 64 drawn at rate 0.5`);
  const at = { jobId: JOB, round: 0, cluster: 0, aggregateCid: "x" };
  assert.equal(auditDrawn(a, at, 0), false);
  assert.equal(auditDrawn(a, at, 1), true);
});

Deno.test("attacker: POST /aggregate of a round waiting for a cluster reads no model bytes", async () => {
  // Found in the hierarchical audit: every (unauthenticated) POST /aggregate of a waiting round
  // loaded the global checkpoint and read and decoded each mean posted so far, then found the
  // open cluster and answered "waiting". Prepare: clusters of 2, 2 and 2; two aggregators post
  // their means (every mean drawn for audit), the third has not yet, its deadline ahead.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 6,
    rounds: 1,
    hierarchical: true,
    clusterSize: 2,
    clusterAudit: 1,
  });
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  const [opened] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(opened.reason, "clusters", JSON.stringify(opened));
  const byKey = new Map(job.nodes.map((n) => [n.nodePubkey, n]));
  const clusters = await clustersOf(s.ctx, job.jobId, 0);
  for (const c of clusters.slice(0, 2)) {
    assert.equal(await byKey.get(c.aggregator)!.worker.tick(), "aggregated");
  }
  const reads = countStoreReads(s.ctx.store);

  // Execute: an attacker's calls in a loop.
  const answers = [];
  for (let i = 0; i < 3; i++) {
    answers.push((await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0]);
  }

  // Assert: each answered "waiting" from the cluster records alone.
  for (const a of answers) assert.equal(a.reason, "clusters", JSON.stringify(a));
  assert.deepEqual(reads, { blocks: 0, bytes: 0 });
  const statuses = (await clustersOf(s.ctx, job.jobId, 0)).map((c) => c.status);
  assert.deepEqual(statuses, ["submitted", "submitted", "open"]);
});
