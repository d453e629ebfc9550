/**
 * Update intake with the partition codec: a payload must be the part the task gave (slot,
 * round seed, parts), and the round's metric records the update bytes apart from the
 * checkpoint. And what intake refuses to read: another uploader's private file, a body of copied
 * proofs, a file past the job's upload size.
 */
import assert from "node:assert/strict";
import {
  envelopeOf,
  envelopeToJson,
  signEnvelope,
  type UpdateEnvelope,
} from "../../lib/round/update_envelope.ts";
import { readPartitionHeader } from "../../lib/compress/partition.ts";
import { updateKey, type UpdateRecord } from "../../lib/coordinator/state.ts";
import { commitRound } from "../../lib/chain/commit_round.ts";
import { arthaDomain } from "../../lib/crypto/domain.ts";
import { jobUploadBytes } from "../../lib/coordinator/svdb_access.ts";
import { collectGarbage } from "../../lib/store/collect_garbage.ts";
import {
  read,
  type Scenario,
  setupCoordinator,
  type TestNode,
  type TrainedUpdate,
} from "./_coordinator.ts";

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

  await t.step("another node's part is a 422 naming the slot", async () => {
    // Uncommitted, it is refused before its bytes are read; committed, for the slot it names.
    const forged = await s.train(job, n1, { slot: 2, commit: false });
    const early = await read(await s.post("/aggregate/update", envelopeToJson(forged.envelope)));
    assert.equal(early.body.error.code, "NOT_COMMITTED");
    const { lossDigest, gradientDigest, weightsDigest, proofsRoot } = forged.result;
    const at = { jobId: job.jobId, round: 0, nodePubkey: n1.nodePubkey };
    await commitRound(n1.operator, {
      addresses: fx.addresses,
      commit: { ...at, lossDigest, gradientDigest, weightsDigest, proofsRoot },
    });
    const res = await read(await s.post("/aggregate/update", envelopeToJson(forged.envelope)));
    assert.equal(res.status, 422);
    assert.match(res.body.error.message, /partition slot 2 is not the task's 1/);
    await s.deliver(job, [n2]); // n1 committed the wrong part: it is out of the round
  });

  await t.step("the round closes; its metric counts update bytes apart", async () => {
    s.advance(job.spec.aggregation.deadlineMs); // n1 is out: the round closes at its deadline
    const out = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0];
    assert.equal(out.status, "closed");
    const m = (await s.jobRecord(job.jobId)).metrics[0]!;
    assert.equal(m.updates, 2);
    let sum = 0;
    for (const n of [n0, n2]) {
      const rec = await s.ctx.kv.get<UpdateRecord>(updateKey(job.jobId, 0, n.nodePubkey));
      sum += rec.value!.bytes;
    }
    assert.equal(m.updateBytes, sum);
    assert.ok(m.bytes > sum, "bytes also counts the checkpoint written");
  });
});

Deno.test("attacker: intake reads no other uploader's private file, no copied proofs, no file past the job's upload size", async (t) => {
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const domain = arthaDomain(fx.net.chainId, fx.addresses.proofs);
  // The victim's worker uploads its update privately (POST /svdb/private), as workers do.
  const victim = await s.job({ nodes: 1 });
  const [v] = victim.nodes as [TestNode];
  assert.equal(await v.worker.tick(), "trained");
  const stored = await s.ctx.kv.get<UpdateRecord>(updateKey(victim.jobId, 0, v.nodePubkey));
  const victimUpdate = stored.value!;
  assert.equal((await s.call(`/svdb/${victimUpdate.updateCid}`)).status, 401, "it is private");
  // The attacker's node holds a task of another job on the same model (the coordinator may also
  // pick the victim's node for it: the test knows only the job's new nodes).
  const own = await s.job({ nodes: 2 });
  const a = own.nodes.find((n) => n !== undefined)!;
  const u = await s.train(own, a, { commit: false });
  const post = async (change: Partial<UpdateEnvelope>, base: TrainedUpdate = u) => {
    const { signature: _, ...env } = base.envelope;
    const body = envelopeToJson(signEnvelope(a.key, { ...env, ...change }, domain));
    return await read(await s.post("/aggregate/update", body));
  };

  await t.step(
    "a victim's private update, committed as the attacker's own, is refused",
    async () => {
      // Found in the HTTP audit: the victim's gradient digest is public on chain and its update CID
      // was in cluster tasks; counted in the attacker's job, the update was the difference of two
      // public checkpoints, the victim's clean gradient (and past a central-DP job's noise).
      const at = { jobId: own.jobId, round: 0, nodePubkey: a.nodePubkey };
      const { lossDigest, weightsDigest, proofsRoot } = u.result;
      const gradientDigest = victimUpdate.gradientDigest;
      const commit = { ...at, lossDigest, gradientDigest, weightsDigest, proofsRoot };
      await commitRound(a.operator, { addresses: fx.addresses, commit });
      const env = envelopeOf({ ...u.result, gradientDigest }, { ...at, updateCid: u.updateCid });
      const res = await post({ ...env, updateCid: victimUpdate.updateCid });
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.equal(res.body.error.code, "NOT_YOUR_UPLOAD");
    },
  );

  await t.step(
    "a body of one proof copied 1,500 times is refused before any is checked",
    async () => {
      const proofs = Array.from({ length: 1_500 }, () => u.envelope.proofs[0]!);
      const res = await post({ proofs });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, "WRONG_PROOF_COUNT");
    },
  );

  await t.step("digests never committed: refused before the update is read", async () => {
    // Found in the node routes audit: the update was read, decoded and checked (up to ~1 GB at
    // 124M parameters) before the commit was looked up, so a node could have the coordinator do
    // that on every post of digests it never committed.
    const cid = (await fx.store.put(new Uint8Array(jobUploadBytes(own.spec) - 4096))).toString();
    const reads: string[] = [];
    const get = s.ctx.store.get.bind(s.ctx.store);
    s.ctx.store.get = (c, o) => (reads.push(String(c)), get(c, o));
    try {
      const res = await post({ updateCid: cid, weightsDigest: `0x${"0e".repeat(32)}` });
      assert.equal(res.body.error.code, "NOT_COMMITTED");
      assert.ok(!reads.includes(cid), "the update was read");
    } finally {
      s.ctx.store.get = get;
    }
  });

  await t.step("a file larger than the job's uploads is not read", async () => {
    const big = new Uint8Array(jobUploadBytes(own.spec) + 1024);
    const cid = (await fx.store.put(big)).toString();
    // Under the digests committed above: an uncommitted envelope is refused before any read.
    const res = await post({ gradientDigest: victimUpdate.gradientDigest, updateCid: cid });
    assert.equal(res.status, 422);
    assert.match(res.body.error.message, /unreadable from SVDB.*more than the \d+ allowed/);
  });
});

Deno.test("attacker: an update collected between intake's read and its pin is refused, and the round still closes", async () => {
  // Found in the KV audit: an upload is only leased; a node posting just before its lease ends,
  // with the collection cron firing between intake's read and its pin (which skipped a missing
  // file), got a 201 for an update nobody could read again, and every close of the round threw.
  // Prepare: the update leased as POST /svdb leaves it, its lease about to end.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const [evil, honest] = job.nodes as [TestNode, TestNode];
  const up = await s.train(job, evil);
  const store = s.ctx.store;
  const bytes = await store.get(up.updateCid);
  await store.unpin(up.updateCid);
  await store.lease(up.updateCid, s.ctx.now() + s.ctx.config.uploadLeaseMs);
  s.advance(s.ctx.config.uploadLeaseMs - 1);
  const get = store.get;
  let collected = false;
  store.get = async function (cid, options) {
    const got = await get.call(store, cid, options);
    if (!collected && String(cid) === up.updateCid) {
      collected = true;
      await collectGarbage(store, s.ctx.now() + 2); // the 15-minute cron, its lease over
    }
    return got;
  };

  // Execute
  let res;
  try {
    res = await read(await s.post("/aggregate/update", envelopeToJson(up.envelope)));
  } finally {
    store.get = get;
  }

  // Assert: refused, nothing stored for it; the node uploads the same bytes again and is taken,
  // and the round closes on both updates.
  assert.equal(collected, true);
  assert.equal(res.status, 422, JSON.stringify(res.body));
  assert.equal(res.body.error.code, "UPDATE_UNREADABLE");
  const key = updateKey(job.jobId, 0, evil.nodePubkey);
  assert.equal((await s.ctx.kv.get(key)).value, null);
  assert.equal(String(await store.put(bytes)), up.updateCid);
  const again = await read(await s.post("/aggregate/update", envelopeToJson(up.envelope)));
  assert.equal(again.status, 201, JSON.stringify(again.body));
  await s.deliver(job, [honest]);
  await s.post("/aggregate", { jobId: job.jobId });
  assert.equal((await s.jobRecord(job.jobId)).round, 1);
});

/**
 * Posts `bodies` at once for `cid`'s node; the answers and how many times the coordinator read
 * `cid` meanwhile.
 */
async function postAtOnce(s: Scenario, cid: string, bodies: string[]) {
  const store = s.ctx.store;
  const get = store.get;
  let reads = 0;
  store.get = function (at, options) {
    if (String(at) === cid) reads++;
    return get.call(store, at, options);
  };
  try {
    const answers = await Promise.all(
      bodies.map(async (body) => read(await s.post("/aggregate/update", body))),
    );
    return { answers, reads };
  } finally {
    store.get = get;
  }
}

Deno.test("attacker: copies of one update posted at once are read once", async () => {
  // Found in the round pipeline audit: until the first copy was stored, every concurrent copy of
  // one committed envelope read and decoded the whole update (up to ~1 GB at 124M parameters),
  // so a node that committed once could post fifty at once and run the coordinator out of memory.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const up = await s.train(job, job.nodes[0]!);

  // Execute
  const body = envelopeToJson(up.envelope);
  const { answers, reads } = await postAtOnce(s, up.updateCid, Array(8).fill(body));

  // Assert: every copy is answered as the one stored; its bytes were read once.
  assert.deepEqual(answers.map((a) => a.status < 300), Array(8).fill(true));
  assert.equal(reads, 1);
});

Deno.test("attacker: variants of one update, each signed anew, posted at once are read once", async () => {
  // Found reviewing the fix above: keyed by the envelope's signature, copies signed anew (a
  // field the read does not check, meanLoss, varied) each took a read of their own.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const node = job.nodes[0]!;
  const up = await s.train(job, node);
  const domain = arthaDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.proofs);

  // Execute
  const bodies = Array.from({ length: 8 }, (_, i) => {
    const variant = signEnvelope(node.key, { ...up.envelope, meanLoss: 1 + i / 64 }, domain);
    return envelopeToJson(variant);
  });
  const { answers, reads } = await postAtOnce(s, up.updateCid, bodies);

  // Assert: one variant is stored, the others are conflicts; the bytes were read once.
  assert.equal(answers.filter((a) => a.status === 201).length, 1);
  const codes = answers.filter((a) => a.status !== 201).map((a) => a.body.error.code);
  assert.deepEqual(codes, Array(7).fill("UPDATE_CONFLICT"));
  assert.equal(reads, 1);
});
