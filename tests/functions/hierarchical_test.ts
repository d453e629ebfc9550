import assert from "node:assert/strict";
import { abis, SlashReason } from "../../lib/chain/contracts.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../../lib/model/checkpoint.ts";
import { StreamingFedAvg } from "../../lib/strategy/streaming_fed_avg.ts";
import { decodeUpdateBytes, envelopeToJson } from "../../lib/round/update_envelope.ts";
import { listValues, roundUpdates, type UpdateRecord } from "../../lib/coordinator/state.ts";
import { liftPrivate } from "../../lib/coordinator/svdb_private.ts";
import { clusterKey, clustersOf } from "../../lib/coordinator/clusters.ts";
import { setLarge } from "../../lib/coordinator/state.ts";
import {
  type Coordinator,
  read,
  type Scenario,
  setupCoordinator,
  type TestJob,
  type TestNode,
} from "./_coordinator.ts";
import { openClusters, slashesOf } from "./_clusters.ts";
import { merkleRoot } from "../../lib/crypto/merkle.ts";
import { f32Bytes } from "../../lib/round/local_training.ts";
import {
  type ClusterMember,
  clusterMembersDigest,
  signClusterSubmission,
} from "../../lib/round/cluster_task.ts";
import type { WorkerEvent } from "../../lib/worker/events.ts";
import { workerThrough } from "../worker/_worker.ts";

/** The round's checkpoint is the initial weights plus flat FedAvg of its round-0 updates. */
async function assertFlatFedAvg(fx: Coordinator, s: Scenario, job: TestJob, checkpointCid: string) {
  const updates = await listValues<UpdateRecord>(s.ctx.kv, ["update", job.jobId, 0]);
  const initial = decodeCheckpoint(await fx.store.get(job.spec.initialWeights)).weights;
  const acc = new StreamingFedAvg(initial.length);
  for (const u of updates) {
    acc.add({
      nodeId: u.nodePubkey,
      delta: decodeUpdateBytes(await fx.store.get(u.updateCid), initial.length).delta,
      numSamples: u.samples,
    });
  }
  const flat = acc.finish().delta;
  const global = decodeCheckpoint(await fx.store.get(checkpointCid)).weights;
  let worst = 0;
  for (let i = 0; i < flat.length; i++) {
    worst = Math.max(worst, Math.abs(global[i]! - initial[i]! - flat[i]!));
  }
  assert.ok(worst < 1e-6, `max |hierarchical - flat| = ${worst}`);
}

Deno.test("hierarchical rounds: worker clusters aggregate, the coordinator audits and combines", async (t) => {
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 5,
    rounds: 2,
    hierarchical: true,
    clusterSize: 2,
    clusterAudit: 1,
  });
  const byKey = new Map(job.nodes.map((n) => [n.nodePubkey, n]));

  await t.step(
    "a closing round waits for its clusters; a wrong mean is caught; a silent one is computed",
    async () => {
      // Prepare: every node trains; the round is cut into clusters of 2, 2 and 1.
      for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
      const [waiting] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
      assert.equal(waiting.status, "waiting");
      assert.equal(waiting.reason, "clusters");
      const clusters = await clustersOf(s.ctx, job.jobId, 0);
      assert.deepEqual(clusters.map((c) => c.members.length), [2, 2, 1]);
      const [cheatC, honestC, silentC] = clusters as [
        typeof clusters[0],
        typeof clusters[0],
        typeof clusters[0],
      ];
      // Negated: as long as the honest mean, so only the audit's recomputation tells.
      byKey.get(cheatC.aggregator)!.cheat.clusterMean = (d) => d.map((x) => -x);
      // Anyone may post to an open cluster (its aggregator is public): a fractional sample
      // count is a 400 naming the field, never a 500, and leaves the cluster open.
      const fractional = await read(
        await s.post("/aggregate/cluster", {
          jobId: job.jobId,
          round: 0,
          cluster: honestC.cluster,
          nodePubkey: honestC.aggregator,
          aggregateCid: job.spec.initialWeights,
          totalSamples: 1.5,
          signature: `0x${"00".repeat(64)}`,
        }),
      );
      assert.equal(fractional.status, 400);
      assert.match(fractional.body.error.message, /"totalSamples"/);

      // Execute: two aggregators post (one of them lying); the third stays silent past the deadline.
      assert.equal(await byKey.get(cheatC.aggregator)!.worker.tick(), "aggregated");
      assert.equal(await byKey.get(honestC.aggregator)!.worker.tick(), "aggregated");
      const [still] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
      assert.equal(still.status, "waiting");
      s.advance(job.spec.aggregation.deadlineMs);
      const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;

      // Assert: closed with the honest aggregate, the audited one, and the fallback one.
      assert.equal(closed.status, "closed");
      assert.equal(closed.updates, 5);
      const after = await clustersOf(s.ctx, job.jobId, 0);
      assert.deepEqual(after.map((c) => c.status), ["rejected", "audited", "fallback"]);
      assert.ok(silentC);
      const slashes = await slashesOf(fx, cheatC.aggregator);
      assert.deepEqual(slashes.map((e) => [e.args.reason, e.args.amount]), [[
        SlashReason.FakeGradients,
        5n * 10n ** 18n,
      ]]);

      // The combined result equals flat FedAvg of the five updates (up to f32 rounding of means).
      await assertFlatFedAvg(fx, s, job, closed.checkpointCid);
    },
  );
});

Deno.test("attacker: a cluster mean longer than its longest member is refused and penalised at submission, whatever the audit draw", async () => {
  // Prepare: no audits at all; one aggregator inflates its mean, as a poisoner that guessed the
  // draw (or was told it) would.
  await using fx = await setupCoordinator({ operators: 3 });
  const { s, job, clusters: [poisoned, honest] } = await openClusters(fx, { clusterAudit: 0 });
  const byKey = new Map(job.nodes.map((n) => [n.nodePubkey, n]));
  byKey.get(poisoned!.aggregator)!.cheat.clusterMean = (d) => d.map((x) => x * 1000);

  // Execute: both aggregators post; the round closes.
  await assert.rejects(
    () => byKey.get(poisoned!.aggregator)!.worker.tick(),
    /422 Cannot accept cluster: norm .* exceeds its members' .*; penalised/,
  );
  assert.equal(await byKey.get(honest!.aggregator)!.worker.tick(), "aggregated");
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;

  // Assert: the poisoner is slashed and its cluster computed by the coordinator: the new global
  // model is flat FedAvg of the four updates, not the inflated mean.
  assert.equal(closed.status, "closed");
  const after = await clustersOf(s.ctx, job.jobId, 0);
  assert.deepEqual(after.map((c) => c.status), ["rejected", "submitted"]);
  const slashes = await slashesOf(fx, poisoned!.aggregator);
  assert.deepEqual(slashes.map((e) => e.args.reason), [SlashReason.FakeGradients]);
  await assertFlatFedAvg(fx, s, job, closed.checkpointCid);
});

Deno.test("attacker: a fake cluster mean whose penalty failed to send is penalised on its retry, not answered 200", async () => {
  // Found in the KV audit: the cluster was marked rejected before the penalty was sent; when the
  // chain call failed nothing sent it again, and the aggregator's retry of the same mean was
  // answered 200 as if it had been taken. Prepare: an inflating aggregator, and a chain that
  // refuses the coordinator's first transaction.
  await using fx = await setupCoordinator({ operators: 3 });
  const { s, job, clusters: [poisoned] } = await openClusters(fx, { clusterAudit: 0 });
  const cheat = job.nodes.find((n) => n.nodePubkey === poisoned!.aggregator)!;
  cheat.cheat.clusterMean = (d) => d.map((x) => x * 1000);
  const client = s.ctx.chain.client;
  const send = client.sendRawTransaction;
  let refused = 0;
  client.sendRawTransaction = (...args) => {
    if (refused++ === 0) throw new Error("the RPC gateway is down");
    return send.apply(client, args);
  };

  // Execute: the aggregator posts its mean, the penalty fails; it posts again.
  try {
    await assert.rejects(() => cheat.worker.tick());
    await assert.rejects(() => cheat.worker.tick(), /422 Cannot accept cluster: .*penalised/);
  } finally {
    client.sendRawTransaction = send;
  }

  // Assert: slashed once, and the cluster is the coordinator's to compute.
  const slashes = await slashesOf(fx, poisoned!.aggregator);
  assert.deepEqual(slashes.map((e) => e.args.reason), [SlashReason.FakeGradients]);
  assert.equal((await clustersOf(s.ctx, job.jobId, 0))[0]!.status, "rejected");
});

Deno.test("finalize releases the job's cluster means with its updates", async () => {
  // Found in the KV audit: release read the cluster records' parts as records, found no mean,
  // and every posted mean stayed pinned for good. Prepare: a closed hierarchical round.
  await using fx = await setupCoordinator({ operators: 3 });
  const { s, job, clusters } = await openClusters(fx);
  const byKey = new Map(job.nodes.map((n) => [n.nodePubkey, n]));
  for (const c of clusters) {
    assert.equal(await byKey.get(c.aggregator)!.worker.tick(), "aggregated");
  }
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(closed.status, "closed", JSON.stringify(closed));
  const means = (await clustersOf(s.ctx, job.jobId, 0)).map((c) => c.aggregateCid!);
  const pinned = async () => new Set((await fx.store.pins()).map(String));
  for (const cid of means) assert.ok((await pinned()).has(cid), "a taken mean is pinned");

  // Execute
  const fin = await read(await s.post("/finalize", { jobId: job.jobId }));

  // Assert
  assert.equal(fin.status, 200, JSON.stringify(fin.body));
  const pins = await pinned();
  for (const cid of means) assert.ok(!pins.has(cid), `${cid} is released`);
});

Deno.test("attacker: a member whose update is a round stale never aggregates its cluster", async () => {
  // Found in the KV audit: in an asynchronous job the aggregator rotated over every member, stale
  // ones too; the chain penalises an aggregator only for a round it committed in, and a stale
  // member committed at an earlier one, so its fake mean went unpunished.
  // Prepare: 4 nodes in clusters of 3; the member round 1 would rotate to (the second by key)
  // trains round 0 but delivers it during round 1.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 4,
    rounds: 3,
    quorum: 0.75,
    asynchronous: { maxStaleness: 1 },
    hierarchical: true,
    clusterSize: 3,
  });
  const byKey = [...job.nodes].sort((a, b) =>
    a.nodePubkey.toLowerCase().localeCompare(b.nodePubkey.toLowerCase())
  );
  const slow = byKey[1]!;
  const late = await s.train(job, slow);
  await s.deliver(job, job.nodes.filter((n) => n !== slow));
  const [r0] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(r0.status, "closed", JSON.stringify(r0));

  // Execute: its stale update arrives in round 1 with the others' fresh ones; round 1's clusters.
  const posted = await read(await s.post("/aggregate/update", envelopeToJson(late.envelope)));
  assert.equal(posted.body.baseRound, 0, JSON.stringify(posted.body));
  await s.deliver(job, job.nodes.filter((n) => n !== slow));
  await s.post("/aggregate", { jobId: job.jobId });
  const clusters = await clustersOf(s.ctx, job.jobId, 1);

  // Assert: the stale member is in a cluster but aggregates none.
  assert.ok(clusters.some((c) => c.members.some((m) => m.nodePubkey === slow.nodePubkey)));
  for (const c of clusters) assert.notEqual(c.aggregator, slow.nodePubkey);
});

Deno.test("attacker: a mean posted past its cluster's deadline is refused; the coordinator's stands", async () => {
  // Found in the KV audit: a close that took an open cluster past its deadline computed the
  // mean itself while a late post made the cluster "submitted" for another process's close of
  // the same round: one checkpoint could land on chain and another in KV.
  // Prepare: open clusters, their deadline passed.
  await using fx = await setupCoordinator({ operators: 3 });
  const { s, job, clusters } = await openClusters(fx);
  const late = job.nodes.find((n) => n.nodePubkey === clusters[0]!.aggregator)!;
  // The latest deadline: each cluster's is set when it is created, a few ms apart on the wall
  // clock, and the close waited for a cluster still short of its own.
  s.advance(Math.max(...clusters.map((c) => c.deadline)) - s.ctx.now());

  // Execute: the aggregator is handed no task past the deadline; a mean it posts is refused.
  const task = await read(await s.call(`/assign?node=${late.nodePubkey}`));
  const members = clusters[0]!.members;
  const sub = {
    jobId: job.jobId,
    round: 0,
    cluster: 0,
    nodePubkey: late.nodePubkey,
    aggregateCid: job.spec.initialWeights,
    totalSamples: members.reduce((n, m) => n + m.samples, 0),
    membersDigest: clusterMembersDigest(members),
  };
  const signature = signClusterSubmission(late.key, sub, fx.domain);
  const posted = await read(await s.post("/aggregate/cluster", { ...sub, signature }));
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;

  // Assert: the round closed on the coordinator's means.
  assert.notEqual(task.body.status, "cluster", JSON.stringify(task.body));
  assert.equal(posted.status, 409, JSON.stringify(posted.body));
  assert.match(posted.body.error.message, /deadline passed/);
  assert.equal(closed.status, "closed", JSON.stringify(closed));
  const after = await clustersOf(s.ctx, job.jobId, 0);
  assert.deepEqual(after.map((c) => c.status), ["fallback", "fallback"]);
  await assertFlatFedAvg(fx, s, job, closed.checkpointCid);
});

Deno.test("attacker: a NaN update is refused at intake, so neither its cluster nor the round can be wedged", async () => {
  // Prepare: one node commits a NaN in its delta, digests consistent with it.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 5,
    rounds: 1,
    hierarchical: true,
    clusterSize: 2,
    clusterAudit: 0,
  });
  const [evil, ...rest] = job.nodes;
  evil!.cheat.tamper = (r) => {
    const delta = r.delta.slice();
    delta[0] = NaN;
    return { ...r, payload: undefined, delta, gradientDigest: merkleRoot(f32Bytes(delta)) };
  };

  // Execute: everyone delivers; the deadline passes; the clusters of the rest aggregate.
  await assert.rejects(() => evil!.worker.tick(), /422 .*update values unusable: non-finite/);
  for (const n of rest) assert.equal(await n.worker.tick(), "trained");
  s.advance(job.spec.aggregation.deadlineMs);
  const [waiting] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(waiting.reason, "clusters");
  const byKey = new Map(job.nodes.map((n) => [n.nodePubkey, n]));
  for (const c of await clustersOf(s.ctx, job.jobId, 0)) {
    assert.equal(await byKey.get(c.aggregator)!.worker.tick(), "aggregated");
  }
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;

  // Assert: the round closed on the four finite updates, into a finite model.
  assert.equal(closed.status, "closed");
  assert.equal(closed.updates, 4);
  const global = decodeCheckpoint(await fx.store.get(closed.checkpointCid)).weights;
  assert.ok(global.every(Number.isFinite));
});

Deno.test("attacker: a relay that edits an honest aggregator's cluster task gets it refused, not the aggregator slashed", async () => {
  // Prepare: a hierarchical round whose clusters are open. Found in the worker audit: a cluster
  // task was summed and signed as given, so a relay that set one member's scale to 1000 had the
  // honest aggregator post a mean the coordinator's audit penalised at 50%.
  await using fx = await setupCoordinator({ operators: 3 });
  const { s, job, clusters: [c0] } = await openClusters(fx, { clusterAudit: 0 });
  const victim = job.nodes.find((n) => n.nodePubkey === c0!.aggregator)!;
  const other = job.nodes.find((n) =>
    n.nodePubkey !== c0!.aggregator && !c0!.members.some((m) => m.nodePubkey === n.nodePubkey)
  )!;
  const updates = await listValues<UpdateRecord>(s.ctx.kv, roundUpdates(job.jobId, 0));
  const otherUpdate = updates.find((u) => u.nodePubkey === other.nodePubkey)!.updateCid;
  // That node uploaded its update in the clear (plain POST /svdb, as workers before private
  // uploads did): anyone reads it, the aggregator too.
  await liftPrivate(s.ctx, otherUpdate);
  const edits: [string, (members: ClusterMember[]) => void, RegExp][] = [
    ["scale", (m) => m[0]!.scale = 1000, /scale 1000 is no staleness weight/],
    ["samples", (m) => m[0]!.samples *= 100, /claims \d+ samples, the task's are/],
    ["a stranger", (m) => m[0]!.nodePubkey = other.nodePubkey, /committed|not a member/],
    [
      "an update",
      (m) => m[1]!.updateCid = m[0]!.updateCid,
      /is not what its node committed|appears/,
    ],
    // Found in the second worker audit: another node that committed the round, with its own
    // update, checks against the chain; the mean of other members than the record's differed
    // from it (penalised at once past the norm bound, else on an audit draw).
    [
      "a stranger with its update",
      (m) =>
        Object.assign(m.find((x) => x.nodePubkey !== victim.nodePubkey)!, {
          nodePubkey: other.nodePubkey,
          updateCid: otherUpdate,
        }),
      /other members than the cluster's/,
    ],
  ];
  for (const [what, edit, why] of edits) {
    const events: WorkerEvent[] = [];
    const relay = async (path: string, init?: RequestInit) => {
      const res = await s.call(path, init);
      if (!path.startsWith("/assign?")) return res;
      const body = await res.json();
      if (body.status === "cluster") edit(body.members);
      return Response.json(body);
    };

    // Execute
    const outcome = await workerThrough(fx, victim, relay, events).tick().catch((e) => e);

    // Assert: refused with the reason (or the bytes refused), nothing posted, nobody slashed.
    const said = outcome instanceof Error
      ? outcome.message
      : events.map((e) => e.kind === "error" ? e.message : "").join(" ");
    assert.match(said, why, `${what}: ${said}`);
  }
  const [still] = await clustersOf(s.ctx, job.jobId, 0);
  assert.equal(still!.status, "open", "no mean was posted");
  const slashes = await slashesOf(fx, victim.nodePubkey);
  assert.deepEqual(slashes, []);
  // The untouched task is aggregated.
  assert.equal(await victim.worker.tick(), "aggregated");
});

Deno.test("victim: a cluster aggregator heartbeats and answers challenges between its members' fetches", async () => {
  // Found in the worker audit: summing a cluster ran no chores, and each member's fetch may take
  // up to 10 minutes, so a coordinator serving them slowly held the node past its heartbeat
  // window (10% of its stake per 3 missed hours) and its challenge windows.
  await using fx = await setupCoordinator({ operators: 3 });
  const { s, job, clusters: [c0] } = await openClusters(fx);
  const aggregator = job.nodes.find((n) => n.nodePubkey === c0!.aggregator)!;
  const slow = async (path: string, init?: RequestInit) => {
    if (path.startsWith("/svdb/")) await new Promise((r) => setTimeout(r, 50));
    return await s.call(path, init);
  };
  const worker = workerThrough(fx, aggregator, slow, [], {
    heartbeatEveryMs: 0,
    choresEveryMs: 0,
  });
  const heartbeats = async () =>
    (await fx.coordinator.getContractEvents({
      address: fx.addresses.registry,
      abi: abis.registry,
      eventName: "Heartbeat",
      args: { nodePubkey: aggregator.nodePubkey },
      fromBlock: 0n,
    })).length;
  const before = await heartbeats();

  assert.equal(await worker.tick(), "aggregated");

  // One heartbeat at the tick's start, one before each of the two members' fetches, and more
  // while each slow fetch is open (every request runs the chores that fall due meanwhile).
  const sent = await heartbeats() - before;
  assert.ok(sent >= 1 + c0!.members.length, `${sent} heartbeats`);
});

Deno.test("attacker: a cluster aggregator cannot post another job's private update as its mean", async () => {
  // Found in the privacy audit, the same attack as at update intake: an aggregator of the
  // attacker's own job (audit rate 0, its choice) named a victim job's private update as its
  // cluster's mean, and the victim's clean gradient came out of two public checkpoints.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  // Three local steps: the victim's updates are not byte-equal to the attacker job's own.
  const victim = await s.job({ nodes: 2, rounds: 1, localSteps: 3 });
  for (const n of victim.nodes) assert.equal(await n.worker.tick(), "trained");
  const updates = await listValues<UpdateRecord>(s.ctx.kv, roundUpdates(victim.jobId, 0));
  const own = await s.job({
    nodes: 6,
    rounds: 1,
    hierarchical: true,
    clusterSize: 2,
    clusterAudit: 0,
  });
  const pool = [...victim.nodes, ...own.nodes, ...own.spares].filter((n) => n !== undefined);
  const mine = own.record.assigned.map((k) => pool.find((n) => n.nodePubkey === k)!);
  // Its own nodes' updates are large, so the victim's passes the cluster's norm bound.
  for (const n of mine) {
    n.cheat.tamper = (r) => {
      const delta = r.delta.map((x) => x * 50);
      return { ...r, payload: undefined, delta, gradientDigest: merkleRoot(f32Bytes(delta)) };
    };
    assert.equal(await n.worker.tick(), "trained");
  }
  assert.equal(
    (await read(await s.post("/aggregate", { jobId: own.jobId }))).body[0].reason,
    "clusters",
  );
  const victims = new Set(victim.nodes.map((n) => n.nodePubkey));
  const cluster = (await clustersOf(s.ctx, own.jobId, 0)).find((c) => !victims.has(c.aggregator))!;
  const stolen = updates.find((u) => !cluster.members.some((m) => m.nodePubkey === u.nodePubkey))!;
  const aggregator = mine.find((n) => n.nodePubkey === cluster.aggregator)!;
  const sub = {
    jobId: own.jobId,
    round: 0,
    cluster: cluster.cluster,
    nodePubkey: cluster.aggregator,
    aggregateCid: stolen.updateCid,
    totalSamples: cluster.members.reduce((a, m) => a + m.samples, 0),
    membersDigest: clusterMembersDigest(cluster.members),
  };
  const signature = signClusterSubmission(aggregator.key, sub, fx.domain);
  const res = await read(await s.post("/aggregate/cluster", { ...sub, signature }));
  assert.equal(res.status, 403, JSON.stringify(res.body));
  assert.equal(res.body.error.code, "NOT_YOUR_UPLOAD");
});

/** The largest f32 below `x` (x > 0). */
function f32Below(x: number): number {
  const v = new Float32Array([x]);
  if (v[0]! >= x) new Uint32Array(v.buffer)[0]! -= 1;
  return v[0]!;
}

/** Sets coordinate 0 of `node`'s update to `value`, its digests made consistent with it. */
function setFirst(node: TestNode, value: number) {
  node.cheat.tamper = (r) => {
    const delta = r.delta.slice();
    delta[0] = value;
    return { ...r, payload: undefined, delta, gradientDigest: merkleRoot(f32Bytes(delta)) };
  };
}

Deno.test("attacker: one member per cluster at the flat update limit cannot keep the round from closing", async () => {
  // Found in the hierarchical audit: intake held each update to n * |d| < 2^28, while the global
  // step weighs a cluster's mean by its samples, the sum of its members' terms. One member per
  // cluster just under 2^28 / n, of the sign of its mate there, made every cluster's mean
  // overflow: each close answered 500, and the round's closing set never changed.
  // Prepare: 6 nodes in clusters of 2; the first of each pair (by key) attacks, its mate's
  // coordinate 0 is a large honest gradient of the same sign.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({
    nodes: 6,
    rounds: 1,
    quorum: 0.5,
    hierarchical: true,
    clusterSize: 2,
    clusterAudit: 0,
  });
  const n = job.spec.localSteps * job.spec.batch.B * job.spec.batch.accumSteps;
  const byKey = [...job.nodes].sort((a, b) =>
    a.nodePubkey.toLowerCase().localeCompare(b.nodePubkey.toLowerCase())
  );
  const attackers = byKey.filter((_, i) => i % 2 === 0);
  const mates = byKey.filter((_, i) => i % 2 === 1);
  for (const a of attackers) setFirst(a, f32Below(2 ** 28 / n));
  for (const m of mates) setFirst(m, 4);

  // Execute: everyone delivers; the deadline passes; the clusters of what was taken aggregate.
  for (const a of attackers) {
    await assert.rejects(() => a.worker.tick(), /422 .*update values unusable: .*2\^28 \/ 2/);
  }
  for (const m of mates) assert.equal(await m.worker.tick(), "trained");
  s.advance(job.spec.aggregation.deadlineMs);
  const [waiting] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(waiting.reason, "clusters", JSON.stringify(waiting));
  const nodes = new Map(job.nodes.map((x) => [x.nodePubkey, x]));
  for (const c of await clustersOf(s.ctx, job.jobId, 0)) {
    assert.equal(await nodes.get(c.aggregator)!.worker.tick(), "aggregated");
  }
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;

  // Assert: the round closed on every update it took, every cluster included.
  assert.equal(closed.status, "closed", JSON.stringify(closed));
  assert.equal(closed.updates, mates.length);
  await assertFlatFedAvg(fx, s, job, closed.checkpointCid);
});

Deno.test("attacker: a cluster mean the global step refuses is not dropped: the round takes its members", async () => {
  // Found in the hierarchical audit: a cluster whose mean the global step left out vanished from
  // the model while the round reported and paid its updates. Prepare: cluster 1's record holds a
  // mean past the global step's limit, as taken before intake checked it (means that overflow
  // are refused now, so the record is written as it was then); cluster 0's aggregator is honest.
  await using fx = await setupCoordinator({ operators: 3 });
  const { s, job, clusters: [honest, poisoned] } = await openClusters(fx, { clusterAudit: 0 });
  const byKey = new Map(job.nodes.map((n) => [n.nodePubkey, n]));
  assert.equal(await byKey.get(honest!.aggregator)!.worker.tick(), "aggregated");
  const totalSamples = poisoned!.members.reduce((a, m) => a + m.samples, 0);
  const mean = new Float32Array(
    decodeCheckpoint(await fx.store.get(job.spec.initialWeights)).weights.length,
  );
  mean[0] = 2 ** 28 / totalSamples;
  const aggregateCid = (await fx.store.put(encodeCheckpoint(job.spec.model, mean))).toString();
  const key = clusterKey(job.jobId, 0, poisoned!.cluster);
  const taken = { ...poisoned!, status: "submitted" as const, aggregateCid, totalSamples };
  await setLarge(s.ctx.kv.atomic(), key, taken).commit();

  // Execute
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;

  // Assert: closed on all four updates, the poisoned cluster's members counted, not its mean.
  assert.equal(closed.status, "closed", JSON.stringify(closed));
  assert.equal(closed.updates, 4);
  await assertFlatFedAvg(fx, s, job, closed.checkpointCid);
});
