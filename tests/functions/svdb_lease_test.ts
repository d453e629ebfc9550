/**
 * Uploads are leased, not pinned: collection takes what nobody references once its lease is
 * over, so filling the coordinator's disk costs a signer its quota for one lease at most. What
 * the coordinator references stays: a started job's data (pinned at /assign) and the updates it
 * accepted (pinned at intake), uploaded by workers through their signed gateway.
 */
import assert from "node:assert/strict";
import { CoordinatorClient } from "../../lib/worker/client.ts";
import { Gateway } from "../../lib/worker/gateway.ts";
import { computeCid } from "../../lib/store/cid.ts";
import type { Store } from "../../lib/store/store.ts";
import {
  accountUploadSigner,
  nodeUploadSigner,
  uploadDomain,
} from "../../lib/store/upload_signature.ts";
import { privateKey } from "../../lib/coordinator/svdb_private.ts";
import { collectSvdbGarbage } from "../../lib/coordinator/svdb_retention.ts";
import type { UpdateRecord } from "../../lib/coordinator/state.ts";
import { createTestDid, postSigned, read, setupCoordinator, type TestJob } from "./_coordinator.ts";
import { randomBytes } from "../lib/_helpers.ts";

/** Runs `fn` with every `store.put` leased until `until` instead of pinned, as gateway uploads are. */
async function asUploads<T>(store: Store, until: () => number, fn: () => Promise<T>): Promise<T> {
  const put = store.put;
  store.put = (content, options = {}) =>
    put.call(store, content, { ...options, pin: false, leaseUntil: until() });
  try {
    return await fn();
  } finally {
    store.put = put;
  }
}

Deno.test("svdb leases and the coordinator's pins", async (t) => {
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const lease = s.ctx.config.uploadLeaseMs;
  const pinned = async () => new Set((await fx.store.pins()).map(String));

  let job!: TestJob;
  await t.step("a job's uploaded data is pinned when the job starts", async () => {
    job = await asUploads(fx.store, () => s.ctx.now() + lease, () => s.job({ nodes: 2 }));
    const data = [job.specCid, job.spec.initialWeights, job.spec.validation];
    for (const cid of [...data, ...job.spec.shards.map((sh) => sh.cid)]) {
      assert.ok((await pinned()).has(cid), `${cid} pinned`);
    }
  });

  const updates: string[] = [];
  await t.step("updates workers upload (signed, leased) are pinned when accepted", async () => {
    for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
    const records = s.ctx.kv.list<UpdateRecord>({ prefix: ["update", job.jobId.toLowerCase()] });
    for await (const r of records) updates.push(r.value.updateCid);
    assert.equal(updates.length, 2);
    for (const cid of updates) assert.ok((await pinned()).has(cid), `update ${cid} pinned`);
    assert.ok((await fx.store.leases()).some((l) => updates.includes(l.cid.toString())));
  });

  await t.step("an owner uploads through the gateway with its account", async () => {
    const { chainId, addresses } = s.ctx.chain;
    const gateway = new Gateway(new CoordinatorClient(s.call), {
      signer: accountUploadSigner(fx.owner),
      domain: uploadDomain(chainId, addresses.registry),
    });
    const bytes = randomBytes(70_000, 5);
    assert.equal(await gateway.put(bytes), (await computeCid(bytes)).toString());
  });

  await t.step(
    "after the lease, collection takes strays and keeps what is referenced",
    async () => {
      // Prepare: bytes a node stored that nothing references
      const node = nodeUploadSigner(job.nodes[0]!.key);
      const stray = (await read(await postSigned(s, node, randomBytes(300_000, 6)))).body.cid;
      // Execute
      const early = await collectSvdbGarbage(s.ctx);
      s.advance(lease + 1);
      const late = await collectSvdbGarbage(s.ctx);
      // Assert
      assert.equal(early.removed, 0, "nothing goes while leases run");
      assert.ok(late.removed >= 2 && late.expired >= 1, JSON.stringify(late));
      assert.equal((await s.call(`/svdb/${stray}`)).status, 404);
      assert.equal(await fx.store.has(stray), false);
      for (const cid of [job.specCid, job.spec.initialWeights, ...updates]) {
        assert.ok(await fx.store.has(cid), `${cid} kept`);
      }
      const closed = await read(await s.post("/aggregate", { jobId: job.jobId }));
      assert.equal(closed.body[0].status, "closed", "the round still reads its updates");
    },
  );
});

Deno.test("attacker: records of collected uploads go with them, so bytes stored again later are not private", async () => {
  // Found in the storage audit: no record was ever deleted. A signer added records for good at
  // its quota's minimum charge, and a private record outlived its bytes: the same bytes stored
  // later (a public file the coordinator writes, whose bytes anyone can predict) stayed private.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const attacker = fx.clients[3]!;
  const did = await createTestDid(fx, attacker);
  const bytes = new TextEncoder().encode('{"a future public file": true}');
  const cid = (await computeCid(bytes)).toString();
  const up = await postSigned(s, accountUploadSigner(attacker), bytes, {
    did,
    path: "/svdb/private",
    headers: { "x-artha-cid": cid },
  });
  assert.equal(up.status, 201, await up.text());

  // Execute: the lease runs out and a collection takes the bytes; later the coordinator stores
  // the same bytes as a public file of its own.
  s.advance(s.ctx.config.uploadLeaseMs + 1);
  await collectSvdbGarbage(s.ctx);
  assert.equal((await s.ctx.kv.get(privateKey(cid))).value, null, "the private record went");
  await fx.store.put(bytes);

  // Assert: anyone reads them.
  const res = await s.call(`/svdb/${cid}`);
  assert.equal(res.status, 200, await res.text());
});
