/**
 * lib/coordinator/cluster_intake.ts from a cluster aggregator's side: what it can make the
 * coordinator read with one signed post (no nonce: anyone may replay it), and what mean it can
 * pass off as its cluster's.
 */
import assert from "node:assert/strict";
import { SlashReason } from "../../../lib/chain/contracts.ts";
import { type ClusterRecord, clustersOf } from "../../../lib/coordinator/clusters.ts";
import { listValues, roundUpdates, type UpdateRecord } from "../../../lib/coordinator/state.ts";
import { UPLOAD_HEADER_BYTES } from "../../../lib/coordinator/svdb_access.ts";
import { merkleRoot } from "../../../lib/crypto/merkle.ts";
import { encodeCheckpoint } from "../../../lib/model/checkpoint.ts";
import { paramLayout } from "../../../kernel/params.ts";
import { clusterMembersDigest, signClusterSubmission } from "../../../lib/round/cluster_task.ts";
import { f32Bytes } from "../../../lib/round/local_training.ts";
import {
  type Coordinator,
  read,
  type Scenario,
  setupCoordinator,
  type TestJob,
} from "../../functions/_coordinator.ts";
import { openClusters, slashesOf } from "../../functions/_clusters.ts";
import { countStoreReads } from "./_store_reads.ts";

/** POSTs `aggregateCid` as cluster `c`'s mean, signed by its aggregator. */
async function postMean(
  fx: Coordinator,
  s: Scenario,
  job: TestJob,
  c: ClusterRecord,
  aggregateCid: string,
) {
  const sub = {
    jobId: job.jobId,
    round: 0,
    cluster: c.cluster,
    nodePubkey: c.aggregator,
    aggregateCid,
    totalSamples: c.members.reduce((a, m) => a + m.samples, 0),
    membersDigest: clusterMembersDigest(c.members),
  };
  const aggregator = job.nodes.find((n) => n.nodePubkey === c.aggregator)!;
  const signature = signClusterSubmission(aggregator.key, sub, fx.domain);
  return await read(await s.post("/aggregate/cluster", { ...sub, signature }));
}

Deno.test("attacker: a mean larger than any mean is read no further than a mean's size, penalised, and not read again", async () => {
  // Found in the hierarchical audit: the named file was read whole (up to the store's 1 GiB)
  // before the spec was loaded, a plain 422 answered, and the cluster left open for the same
  // signed body to be replayed. Prepare: a public 4 MiB file that is no checkpoint.
  await using fx = await setupCoordinator({ operators: 3 });
  const { s, job, clusters } = await openClusters(fx);
  const cluster = clusters[0]!;
  const junk = new Uint8Array(4 << 20).fill(7);
  const cid = (await fx.store.put(junk)).toString();
  const bound = 4 * paramLayout(job.spec.model).size + UPLOAD_HEADER_BYTES;
  assert.ok(junk.length > bound);
  const reads = countStoreReads(s.ctx.store);

  // Execute: the aggregator posts it; the same body is posted again.
  const first = await postMean(fx, s, job, cluster, cid);
  const firstReads = { ...reads };
  const again = await postMean(fx, s, job, cluster, cid);

  // Assert: refused as fake within the bound, penalised once, the second refused unread.
  assert.equal(first.status, 422, JSON.stringify(first.body));
  assert.equal(first.body.error.code, "FAKE_AGGREGATE");
  assert.ok(firstReads.bytes <= bound, `${firstReads.bytes} bytes read, bound ${bound}`);
  assert.equal(again.status, 422, JSON.stringify(again.body));
  assert.equal(again.body.error.code, "FAKE_AGGREGATE");
  assert.deepEqual(reads, firstReads, "the second post read nothing");
  assert.equal((await clustersOf(s.ctx, job.jobId, 0))[0]!.status, "rejected");
  const slashes = await slashesOf(fx, cluster.aggregator);
  assert.deepEqual(slashes.map((e) => e.args.reason), [SlashReason.FakeGradients]);
});

Deno.test("attacker: a mean that is no checkpoint is penalised and not read again", async () => {
  // Prepare: a small public file (under a mean's size) that does not decode.
  await using fx = await setupCoordinator({ operators: 3 });
  const { s, job, clusters } = await openClusters(fx);
  const cluster = clusters[0]!;
  const cid = (await fx.store.put(new Uint8Array(1000).fill(9))).toString();

  // Execute
  const first = await postMean(fx, s, job, cluster, cid);
  const reads = countStoreReads(s.ctx.store);
  const again = await postMean(fx, s, job, cluster, cid);

  // Assert: final for the cluster: penalised once, the coordinator computes it.
  assert.equal(first.body.error?.code, "FAKE_AGGREGATE", JSON.stringify(first.body));
  assert.equal(again.body.error?.code, "FAKE_AGGREGATE", JSON.stringify(again.body));
  assert.deepEqual(reads, { blocks: 0, bytes: 0 });
  assert.equal((await clustersOf(s.ctx, job.jobId, 0))[0]!.status, "rejected");
  const slashes = await slashesOf(fx, cluster.aggregator);
  assert.deepEqual(slashes.map((e) => e.args.reason), [SlashReason.FakeGradients]);
});

Deno.test("attacker: an aggregator cannot post its own inflated update as its cluster's mean", async () => {
  // Found in the hierarchical audit: the instant bound was the longest member's norm, which the
  // aggregator sets with its own update. Prepare: clusters of 3; round 0's aggregator of cluster
  // 0 is its first member by key, which inflates its own committed update x50 (intake takes it).
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 6,
    rounds: 1,
    hierarchical: true,
    clusterSize: 3,
    clusterAudit: 0,
  });
  const [first] = [...job.nodes].sort((a, b) =>
    a.nodePubkey.toLowerCase().localeCompare(b.nodePubkey.toLowerCase())
  );
  first!.cheat.tamper = (r) => {
    const delta = r.delta.map((x) => x * 50);
    return { ...r, payload: undefined, delta, gradientDigest: merkleRoot(f32Bytes(delta)) };
  };
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  await s.post("/aggregate", { jobId: job.jobId });
  const cluster = (await clustersOf(s.ctx, job.jobId, 0))[0]!;
  assert.equal(cluster.aggregator, first!.nodePubkey);
  const updates = await listValues<UpdateRecord>(s.ctx.kv, roundUpdates(job.jobId, 0));
  const own = updates.find((u) => u.nodePubkey === cluster.aggregator)!;

  // Execute: it posts its own update as the mean.
  const res = await postMean(fx, s, job, cluster, own.updateCid);

  // Assert: refused as fake and penalised; the coordinator computes the cluster.
  assert.equal(res.status, 422, JSON.stringify(res.body));
  assert.equal(res.body.error.code, "FAKE_AGGREGATE");
  assert.match(res.body.error.message, /sample-weighted mean norm/);
  assert.equal((await clustersOf(s.ctx, job.jobId, 0))[0]!.status, "rejected");
  const slashes = await slashesOf(fx, cluster.aggregator);
  assert.deepEqual(slashes.map((e) => e.args.reason), [SlashReason.FakeGradients]);
});

Deno.test("attacker: a mean the global step would refuse is refused and penalised at submission", async () => {
  // Found in the hierarchical audit: the global step leaves out a mean whose total samples times
  // a value reach 2^28; no honest mean does (intake holds members to 2^28 / clusterSize).
  // Prepare: a checkpoint of the model's size with one such value.
  await using fx = await setupCoordinator({ operators: 3 });
  const { s, job, clusters } = await openClusters(fx);
  const cluster = clusters[0]!;
  const total = cluster.members.reduce((a, m) => a + m.samples, 0);
  const mean = new Float32Array(paramLayout(job.spec.model).size);
  mean[0] = -(2 ** 28) / total;
  const cid = (await fx.store.put(encodeCheckpoint(job.spec.model, mean))).toString();

  // Execute
  const res = await postMean(fx, s, job, cluster, cid);

  // Assert
  assert.equal(res.status, 422, JSON.stringify(res.body));
  assert.equal(res.body.error.code, "FAKE_AGGREGATE");
  assert.match(res.body.error.message, /global step would refuse it: .*>= 2\^28/);
  assert.equal((await clustersOf(s.ctx, job.jobId, 0))[0]!.status, "rejected");
});
