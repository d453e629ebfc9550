/**
 * A started job's training data from the attacker's side: its shards and validation bytes are
 * read only by the job's owner, its nodes and the coordinator (GET /svdb signed like an upload),
 * and no owner starts a job on data another owner uploaded or put a job on.
 */
import assert from "node:assert/strict";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import {
  accountUploadSigner,
  nodeUploadSigner,
  signUpload,
  uploadDomain,
  type UploadSigner,
} from "../../lib/store/upload_signature.ts";
import { refuseJobData } from "../../lib/coordinator/svdb_private.ts";
import { createTestDid, postSigned, read, setupCoordinator } from "./_coordinator.ts";
import { randomBytes } from "../lib/_helpers.ts";
import { computeCid } from "../../lib/store/cid.ts";

Deno.test("attacker: a started job's shards and validation bytes are read only by its owner, its nodes and the coordinator", async () => {
  // Prepare: a started job; readers signing the GET as the request names it.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1 });
  const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
  const get = async (cid: string, signer?: UploadSigner, raw = false) => {
    const path = `/svdb/${cid}`;
    const headers = signer
      ? await signUpload(signer, domain, new Uint8Array(), {
        method: "GET",
        path,
        now: s.ctx.now(),
      })
      : {};
    const res = await s.call(`${path}${raw ? "?format=raw" : ""}`, { headers });
    const body = res.ok ? (await res.body?.cancel(), undefined) : await res.json();
    return [res.status, body?.error?.code];
  };
  const shard = job.spec.shards[0]!.cid;

  // Execute + Assert: unsigned or a stranger's read of the data is refused, whole or as a raw
  // block; the job's nodes, its owner and the coordinator read it; the rest stays public.
  for (const cid of [shard, job.spec.validation]) {
    assert.deepEqual(await get(cid), [401, "SIGNATURE_MISSING"]);
    assert.deepEqual(await get(cid, undefined, true), [401, "SIGNATURE_MISSING"]);
    assert.deepEqual(await get(cid, nodeUploadSigner(generateNodeKey())), [403, "NOT_A_READER"]);
    assert.deepEqual(await get(cid, accountUploadSigner(fx.clients[3]!)), [403, "NOT_A_READER"]);
    assert.deepEqual(await get(cid, nodeUploadSigner(job.nodes[0]!.key)), [200, undefined]);
    assert.deepEqual(await get(cid, accountUploadSigner(fx.owner)), [200, undefined]);
    assert.deepEqual(await get(cid, accountUploadSigner(fx.coordinator)), [200, undefined]);
  }
  for (const cid of [job.specCid, job.spec.initialWeights]) {
    assert.deepEqual(await get(cid), [200, undefined]);
  }
  // The message says what to do.
  const res = await read(await s.call(`/svdb/${shard}`));
  assert.match(res.body.error.message, /private data: sign the GET as its owner/);
  // The node's worker reads through its gateway, which signs: the round trains and closes.
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  assert.equal(
    (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0].status,
    "closed",
  );
});

Deno.test("attacker: no owner starts a job on data another owner uploaded or put a job on", async () => {
  // Prepare: the victim uploads data through the gateway (as a DID controller, before its job)
  // and runs a job; the attacker is another owner.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const victim = fx.clients[3]!;
  const attacker = fx.clients[2]!.account.address;
  const did = await createTestDid(fx, victim);
  const uploaded = await read(
    await postSigned(s, accountUploadSigner(victim), randomBytes(5_000, 7), { did }),
  );
  assert.equal(uploaded.status, 201);
  const job = await s.job({ nodes: 2, rounds: 1 });
  const withShard = (cid: string) => ({
    ...job.spec,
    shards: [{ name: "stolen", cid }],
    validation: cid,
  });

  // Execute: the attacker's job names the victim's upload, then the victim's running job's shard.
  const upload = await refuseJobData(s.ctx, attacker, withShard(uploaded.body.cid));
  const running = await refuseJobData(s.ctx, attacker, withShard(job.spec.shards[0]!.cid));
  const model = await refuseJobData(s.ctx, attacker, withShard(job.specCid));

  // Assert: each refused (409) naming why; the owner itself may reuse its own data.
  assert.match(upload!.message, /is another owner's upload/);
  assert.match(running!.message, /is another owner's jobs' private data/);
  assert.match(model!.message, /is a model or a job's file/);
  assert.equal(upload!.status, 409);
  assert.equal(await refuseJobData(s.ctx, fx.owner.account.address, job.spec), undefined);
  assert.equal(
    await refuseJobData(s.ctx, victim.account.address, withShard(uploaded.body.cid)),
    undefined,
  );
});

Deno.test("attacker: an owner's data uploaded private is unreadable before any job starts on it", async () => {
  // Prepare: the victim (a DID controller, no job yet) uploads a shard through POST
  // /svdb/private, as `job submit` does after its escrow put shard 0's CID on chain; before, the
  // bytes were anyone's to read by that CID until the job started. The attacker owns a DID too.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1 });
  const [victim, attacker] = [fx.clients[3]!, fx.clients[2]!];
  const [victimDid, attackerDid] = [
    await createTestDid(fx, victim),
    await createTestDid(fx, attacker),
  ];
  const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
  const shard = randomBytes(5_000, 11);
  const cid = (await computeCid(shard)).toString();
  const privately = async (
    bytes: Uint8Array,
    signer: UploadSigner,
    o: { did?: string; declared?: string } = {},
  ) =>
    await read(
      await postSigned(s, signer, bytes, {
        did: o.did,
        path: "/svdb/private",
        headers: { "x-artha-cid": o.declared ?? (await computeCid(bytes)).toString() },
      }),
    );
  const get = async (at: string, signer?: UploadSigner) => {
    const path = `/svdb/${at}`;
    const opts = { method: "GET", path, now: s.ctx.now() };
    const headers = signer ? await signUpload(signer, domain, new Uint8Array(), opts) : {};
    const res = await s.call(path, { headers });
    const body = res.ok ? (await res.body?.cancel(), undefined) : await res.json();
    return [res.status, body?.error?.code];
  };
  const uploaded = await privately(shard, accountUploadSigner(victim), { did: victimDid });
  assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
  assert.deepEqual([uploaded.body.cid, uploaded.body.private], [cid, true]);

  // Execute + Assert: the attacker reads the shard by its CID, unsigned and signed: refused;
  // the victim and the coordinator read it.
  assert.deepEqual(await get(cid), [401, "SIGNATURE_MISSING"]);
  assert.deepEqual(await get(cid, accountUploadSigner(attacker)), [403, "NOT_A_READER"]);
  assert.deepEqual(await get(cid, accountUploadSigner(victim)), [200, undefined]);
  assert.deepEqual(await get(cid, accountUploadSigner(fx.coordinator)), [200, undefined]);
  // Nor can it take the victim's bytes as its own, or make a public file (a job's spec) private
  // and so unreadable to its nodes; a node stores no private data; a body that is not the
  // declared CID's leaves that CID as it was.
  const theirs = await privately(shard, accountUploadSigner(attacker), { did: attackerDid });
  assert.deepEqual([theirs.status, theirs.body.error.code], [409, "DATA_NOT_YOURS"]);
  const spec = await fx.store.get(job.specCid);
  const hidden = await privately(spec, accountUploadSigner(attacker), { did: attackerDid });
  assert.deepEqual([hidden.status, hidden.body.error.code], [409, "ALREADY_PUBLIC"]);
  assert.deepEqual(await get(job.specCid), [200, undefined]);
  const node = await privately(randomBytes(100, 12), nodeUploadSigner(job.nodes[0]!.key));
  assert.deepEqual([node.status, node.body.error.code], [403, "NOT_AN_OWNER"]);
  const elsewhere = (await computeCid(randomBytes(100, 13))).toString();
  const lying = await privately(randomBytes(100, 14), accountUploadSigner(attacker), {
    did: attackerDid,
    declared: elsewhere,
  });
  assert.deepEqual([lying.status, lying.body.error.code], [422, "CID_MISMATCH"]);
  assert.equal(await s.ctx.kv.get(["svdb_private", elsewhere]).then((e) => e.value), null);
  // The victim's job may start on it; the attacker's may not.
  const on = { ...job.spec, shards: [{ name: "own", cid }], validation: cid };
  assert.equal(await refuseJobData(s.ctx, victim.account.address, on), undefined);
  const stolen = await refuseJobData(s.ctx, attacker.account.address, on);
  assert.match(stolen!.message, /another owner's jobs' private data/);
});
