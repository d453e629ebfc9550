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
import { privateKey, refuseJobData } from "../../lib/coordinator/svdb_private.ts";
import { parseCid } from "../../lib/store/cid.ts";
import { commitRound } from "../../lib/chain/commit_round.ts";
import { decodeCheckpoint } from "../../lib/model/checkpoint.ts";
import { f32Bytes } from "../../lib/round/local_training.ts";
import { merkleRoot } from "../../lib/crypto/merkle.ts";
import { envelopeToJson, signEnvelope } from "../../lib/round/update_envelope.ts";
import { getJobNode, listValues, type UpdateRecord } from "../../lib/coordinator/state.ts";
import { taskShard } from "../../lib/job/job_spec.ts";
import { clustersOf } from "../../lib/coordinator/clusters.ts";
import {
  createTestDid,
  postSigned,
  read,
  type Scenario,
  setupCoordinator,
} from "./_coordinator.ts";
import { randomBytes } from "../lib/_helpers.ts";
import { CID, computeCid } from "../../lib/store/cid.ts";
import { create as createDigest } from "multiformats/hashes/digest";
import { Gateway } from "../../lib/worker/gateway.ts";
import { CoordinatorClient, type CoordinatorFetch } from "../../lib/worker/client.ts";

Deno.test("attacker: a started job's shards and validation bytes are read only by its owner, its nodes and the coordinator", async () => {
  // Prepare: a started job; readers signing the GET as the request names it.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1 });
  const get = (cid: string, signer?: UploadSigner, raw = false) =>
    getAs(s, raw ? `${cid}?format=raw` : cid, signer);
  const shard = job.spec.shards[0]!.cid;

  // Execute + Assert: unsigned or a stranger's read of the data is refused, whole or as a raw
  // block; its owner and the coordinator read it, the job's nodes its shards (not the held-out
  // validation set, below); the rest stays public.
  for (const cid of [shard, job.spec.validation]) {
    assert.deepEqual(await get(cid), [401, "SIGNATURE_MISSING"]);
    assert.deepEqual(await get(cid, undefined, true), [401, "SIGNATURE_MISSING"]);
    assert.deepEqual(await get(cid, nodeUploadSigner(generateNodeKey())), [403, "NOT_A_READER"]);
    assert.deepEqual(await get(cid, accountUploadSigner(fx.clients[3]!)), [403, "NOT_A_READER"]);
    assert.deepEqual(await get(cid, accountUploadSigner(fx.owner)), [200, undefined]);
    assert.deepEqual(await get(cid, accountUploadSigner(fx.coordinator)), [200, undefined]);
  }
  // Each node reads its own task's shard. Found in the job owner audit: holding any task of the
  // job read every data owner's shard; a node now reads another's only for a duty (below).
  for (const n of job.nodes) {
    const { task } = (await getJobNode(s.ctx.kv, job.jobId, n.nodePubkey))!;
    for (const [i, { cid }] of job.spec.shards.entries()) {
      const want = i === taskShard(job.spec, task) ? [200, undefined] : [403, "NOT_A_READER"];
      assert.deepEqual(await get(cid, nodeUploadSigner(n.key)), want, `shard ${i} task ${task}`);
    }
  }
  // Found in the job owner audit: any node holding a task read the owner's held-out validation
  // bytes, which no task needs, and a node that trained on them faked the improvement the
  // accuracy bonus is paid on.
  assert.deepEqual(
    await get(job.spec.validation, nodeUploadSigner(job.nodes[0]!.key)),
    [403, "NOT_A_READER"],
  );
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
  // Found in the data owner audit: a node of a finished job kept reading its shard for ever.
  // Once the job is finalized its nodes read its data no more; its owner still does.
  assert.equal((await read(await s.post("/finalize", { jobId: job.jobId }))).status, 200);
  for (const n of job.nodes) {
    const { task } = (await getJobNode(s.ctx.kv, job.jobId, n.nodePubkey))!;
    const own = job.spec.shards[taskShard(job.spec, task)]!.cid;
    assert.deepEqual(await get(own, nodeUploadSigner(n.key)), [403, "NOT_A_READER"]);
  }
  assert.deepEqual(await get(shard, accountUploadSigner(fx.owner)), [200, undefined]);
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
  assert.match(running!.message, /is another owner's private data/);
  assert.match(model!.message, /is a model or a job's file/);
  assert.equal(upload!.status, 409);
  assert.equal(await refuseJobData(s.ctx, fx.owner.account.address, job.spec), undefined);
  assert.equal(
    await refuseJobData(s.ctx, victim.account.address, withShard(uploaded.body.cid)),
    undefined,
  );
});

/** POST /svdb/private of `bytes` signed by `signer`, declaring their CID (or `declared`). */
async function uploadPrivate(
  s: Scenario,
  bytes: Uint8Array | ReadableStream<Uint8Array>,
  signer: UploadSigner,
  o: { did?: string; declared?: string; signed?: Uint8Array } = {},
) {
  const signed = o.signed ?? (bytes as Uint8Array);
  const declared = o.declared ?? (await computeCid(signed)).toString();
  const { chainId, addresses } = s.ctx.chain;
  const headers = await signUpload(signer, uploadDomain(chainId, addresses.registry), signed, {
    now: s.ctx.now(),
    did: o.did,
    path: "/svdb/private",
  });
  const res = await s.call("/svdb/private", {
    method: "POST",
    headers: { "content-type": "application/octet-stream", "x-artha-cid": declared, ...headers },
    body: bytes as BodyInit,
  });
  return await read(res);
}

/** GET /svdb/<cid>, signed by `signer` when given: [status, error code]. */
async function getAs(s: Scenario, cid: string, signer?: UploadSigner) {
  const { chainId, addresses } = s.ctx.chain;
  const path = `/svdb/${cid}`;
  const opts = { method: "GET", path, now: s.ctx.now() };
  const headers = signer
    ? await signUpload(signer, uploadDomain(chainId, addresses.registry), new Uint8Array(), opts)
    : {};
  const res = await s.call(path, { headers });
  const body = res.ok ? (await res.body?.cancel(), undefined) : await res.json();
  return [res.status, body?.error?.code];
}

Deno.test("attacker: an owner's data uploaded private is unreadable before any job starts on it", async () => {
  // Prepare: the victim (a DID controller, no job yet) uploads a shard through POST
  // /svdb/private, as `job submit` does after its escrow put shard 0's CID on chain; before, the
  // bytes were anyone's to read by that CID until the job started. The attacker owns a DID too.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1 });
  const [victim, attacker] = [fx.clients[3]!, fx.clients[2]!];
  const victimDid = await createTestDid(fx, victim);
  const did = await createTestDid(fx, attacker);
  const shard = randomBytes(5_000, 11);
  const cid = (await computeCid(shard)).toString();
  const uploaded = await uploadPrivate(s, shard, accountUploadSigner(victim), { did: victimDid });
  assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
  assert.deepEqual([uploaded.body.cid, uploaded.body.private], [cid, true]);

  // Execute + Assert: the attacker reads the shard by its CID, unsigned and signed: refused;
  // the victim and the coordinator read it.
  assert.deepEqual(await getAs(s, cid), [401, "SIGNATURE_MISSING"]);
  assert.deepEqual(await getAs(s, cid, accountUploadSigner(attacker)), [403, "NOT_A_READER"]);
  assert.deepEqual(await getAs(s, cid, accountUploadSigner(victim)), [200, undefined]);
  assert.deepEqual(await getAs(s, cid, accountUploadSigner(fx.coordinator)), [200, undefined]);
  // Knowing the CID is not having the bytes: a body that is not the declared CID's is refused
  // and reads nothing. Nor can it make a public file (a job's spec) private and so unreadable to
  // the job's nodes.
  const lying = await uploadPrivate(s, randomBytes(100, 14), accountUploadSigner(attacker), {
    did,
    declared: cid,
  });
  assert.deepEqual([lying.status, lying.body.error.code], [422, "CID_MISMATCH"]);
  assert.deepEqual(await getAs(s, cid, accountUploadSigner(attacker)), [403, "NOT_A_READER"]);
  const spec = await fx.store.get(job.specCid);
  const hidden = await uploadPrivate(s, spec, accountUploadSigner(attacker), { did });
  assert.deepEqual([hidden.status, hidden.body.error.code], [409, "ALREADY_PUBLIC"]);
  assert.deepEqual(await getAs(s, job.specCid), [200, undefined]);
  // The victim's job may start on it; the attacker's may not.
  const on = { ...job.spec, shards: [{ name: "own", cid }], validation: cid };
  assert.equal(await refuseJobData(s.ctx, victim.account.address, on), undefined);
  const stolen = await refuseJobData(s.ctx, attacker.account.address, on);
  assert.match(stolen!.message, /another owner's private data/);
});

Deno.test("attacker: a private file is not read through its CIDv0 spelling, nor held by an upload that never finishes", async () => {
  // Prepare: a 300 KB private file (its root is a dag-pb node, which a CIDv0 can name); the
  // attacker knows the CID (as it knows shard 0's from the chain) but not the bytes.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const [victim, attacker] = [fx.clients[3]!, fx.clients[2]!];
  const victimDid = await createTestDid(fx, victim);
  const did = await createTestDid(fx, attacker);
  const big = randomBytes(300_000, 21);
  const cid = (await computeCid(big)).toString();
  const v0 = parseCid(cid).toV0().toString();
  // An upload of the CID it started first and never finishes (a drip), then drops.
  let drop!: (e: Error) => void;
  const drip = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array(10));
      drop = (e) => c.error(e);
    },
  });
  const held = uploadPrivate(s, drip, accountUploadSigner(attacker), { did, signed: big });

  // Execute: the victim uploads while the drip holds its upload open; the attacker reads by the
  // CIDv0 spelling, whole and as a raw block; then its upload drops.
  await new Promise((r) => setTimeout(r, 50));
  const uploaded = await uploadPrivate(s, big, accountUploadSigner(victim), { did: victimDid });
  const whileHeld = [
    await getAs(s, cid, accountUploadSigner(attacker)),
    await getAs(s, v0),
    await getAs(s, `${v0}?format=raw`),
  ];
  drop(new Error("connection reset"));
  await held.catch(() => undefined);

  // Assert: the victim's upload is its own; neither spelling nor the dropped upload reads it.
  assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
  assert.deepEqual(whileHeld, [
    [403, "NOT_A_READER"],
    [401, "SIGNATURE_MISSING"],
    [401, "SIGNATURE_MISSING"],
  ]);
  assert.deepEqual(await getAs(s, v0), [401, "SIGNATURE_MISSING"]);
  assert.deepEqual(await getAs(s, cid, accountUploadSigner(attacker)), [403, "NOT_A_READER"]);
  assert.deepEqual(await getAs(s, v0, accountUploadSigner(victim)), [200, undefined]);
  const rec = (await s.ctx.kv.get<{ owner: string; pending: string[] }>(privateKey(cid))).value!;
  assert.equal(rec.owner, victim.account.address.toLowerCase());
  assert.deepEqual(rec.pending, []);
});

Deno.test("attacker: a node's update is read only by the node, its job's owner and the coordinator", async () => {
  // Prepare: a round of a job without secure aggregation, trained and delivered (workers upload
  // updates private). An update is a gradient of its node's shard: anyone who read it by its CID
  // could invert it.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const [a, b] = job.nodes;
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  const updates = await listValues<UpdateRecord>(s.ctx.kv, ["update", job.jobId.toLowerCase(), 0]);
  const mine = updates.find((u) => u.nodePubkey === a!.nodePubkey)!;

  // Execute + Assert: unsigned and a stranger's reads (a node of no task, another account) are
  // refused, and so is the job's other node: found in the job owner audit, any node of the job
  // read every other node's update, a gradient of another data owner's shard. The node itself,
  // its owner and the coordinator read it.
  assert.equal(updates.length, 2);
  const cid = mine.updateCid;
  assert.deepEqual(await getAs(s, cid), [401, "SIGNATURE_MISSING"]);
  const strangers = [
    nodeUploadSigner(generateNodeKey()),
    accountUploadSigner(fx.clients[3]!),
    nodeUploadSigner(b!.key),
  ];
  for (const stranger of strangers) {
    assert.deepEqual(await getAs(s, cid, stranger), [403, "NOT_A_READER"]);
  }
  const readers = [
    nodeUploadSigner(a!.key),
    ...[fx.owner, fx.coordinator].map(accountUploadSigner),
  ];
  for (const reader of readers) assert.deepEqual(await getAs(s, cid, reader), [200, undefined]);
  // The round still closes: the coordinator reads every update from its own store.
  const closed = await read(await s.post("/aggregate", { jobId: job.jobId }));
  assert.equal(closed.body[0].status, "closed");
});

Deno.test("attacker: a cluster aggregator reads its own cluster's updates, no other node any", async () => {
  // Prepare: a hierarchical round of 4 nodes in clusters of 2, trained; its close opened the
  // clusters, and each aggregator is handed its members' update CIDs.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 4, rounds: 1, hierarchical: true, clusterSize: 2 });
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  await s.post("/aggregate", { jobId: job.jobId });
  const clusters = await clustersOf(s.ctx, job.jobId, 0);
  const keyOf = new Map(job.nodes.map((n) => [n.nodePubkey, n.key]));
  const byKey = new Map(job.nodes.map((n) => [n.nodePubkey, n]));

  // Execute: every node reads every update of the round.
  const reads = [];
  for (const c of clusters) {
    for (const m of c.members) {
      for (const n of job.nodes) {
        const got = await getAs(s, m.updateCid, nodeUploadSigner(keyOf.get(n.nodePubkey)!));
        reads.push({
          mine: n.nodePubkey === m.nodePubkey,
          duty: n.nodePubkey === c.aggregator,
          got,
        });
      }
    }
  }

  // Assert: 2 clusters; an update is read by its node and its cluster's aggregator only.
  assert.equal(clusters.length, 2);
  for (const r of reads) {
    const want = r.mine || r.duty ? [200, undefined] : [403, "NOT_A_READER"];
    assert.deepEqual(r.got, want, JSON.stringify(r));
  }
  assert.equal(reads.filter((r) => r.got[0] === 403).length, 4 * 4 - 4 - 2);
  // Found in the privacy audit: a duty's read never ended, so an aggregator of a finished job
  // kept reading its mates' updates. Once the job is finalized it reads only its own.
  for (const c of clusters) {
    assert.equal(await byKey.get(c.aggregator)!.worker.tick(), "aggregated");
  }
  const [closed] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
  assert.equal(closed.status, "closed");
  assert.equal((await read(await s.post("/finalize", { jobId: job.jobId }))).status, 200);
  for (const c of clusters) {
    for (const m of c.members) {
      const signer = nodeUploadSigner(keyOf.get(c.aggregator)!);
      const want = m.nodePubkey === c.aggregator ? [200, undefined] : [403, "NOT_A_READER"];
      assert.deepEqual(await getAs(s, m.updateCid, signer), want);
    }
  }
});

Deno.test("attacker: naming a public checkpoint as one's update does not hide it from the job's nodes", async () => {
  // Prepare: a node commits the digest of the job's current checkpoint as its gradient and
  // names that checkpoint's CID as its update (a checkpoint decodes as an fp32 update). Taking
  // any accepted update's CID private made the checkpoint unreadable to every worker's plain GET.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 2 });
  const node = job.nodes[0]!;
  const u = await s.train(job, node, { commit: false });
  const globalCid = job.record.globalCid;
  const gradientDigest = merkleRoot(
    f32Bytes(decodeCheckpoint(await fx.store.get(globalCid)).weights),
  );
  const { lossDigest, weightsDigest, proofsRoot } = u.result;
  const at = { jobId: job.jobId, round: 0, nodePubkey: node.nodePubkey };
  const commit = { ...at, lossDigest, gradientDigest, weightsDigest, proofsRoot };
  await commitRound(node.operator, { addresses: fx.addresses, commit });
  const { signature: _, ...env } = u.envelope;
  const forged = signEnvelope(
    node.key,
    { ...env, updateCid: globalCid, gradientDigest },
    fx.domain,
  );

  // Execute
  const res = await read(await s.post("/aggregate/update", envelopeToJson(forged)));

  // Assert: taken as an update (it is one, numerically), and the checkpoint stays public.
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.deepEqual(await getAs(s, globalCid), [200, undefined]);
  assert.equal((await s.ctx.kv.get(privateKey(globalCid))).value, null);
});

Deno.test("attacker: initial weights guessed and uploaded private first are made public by their owner's upload", async () => {
  // Prepare: a job's initial weights are deterministic in its spec and their CID is public on
  // chain from the escrow; the attacker computes them and uploads them private before the owner.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const attacker = fx.clients[2]!;
  const did = await createTestDid(fx, attacker);
  const weights = randomBytes(3_000, 31); // stands for the guessed checkpoint
  const cid = (await computeCid(weights)).toString();
  const early = await uploadPrivate(s, weights, accountUploadSigner(attacker), { did });
  assert.equal(early.status, 201);
  const spec = { ...(await s.job({ nodes: 2, rounds: 1 })).spec, initialWeights: cid };
  const refused = await refuseJobData(s.ctx, fx.owner.account.address, spec);

  // Execute: the owner uploads its initial weights in the open, as `job submit` does.
  const plain = await read(await postSigned(s, accountUploadSigner(fx.owner), weights));

  // Assert: before, a job on them was refused (its nodes could not read them); after, they are
  // public and the job may start.
  assert.match(refused!.message, /initial weights .* are private/);
  assert.equal(plain.status, 201);
  assert.deepEqual(await getAs(s, cid), [200, undefined]);
  assert.equal(await refuseJobData(s.ctx, fx.owner.account.address, spec), undefined);
});

Deno.test("attacker: a read a node signed for a phishing coordinator is refused at the real one", async () => {
  // Prepare: a started job at a coordinator reached at https://real.example. Found in the worker
  // audit: a signed read was a bearer token for any server, so a phishing coordinator that had a
  // job's node sign a read of the job's private shard replayed the headers here and got it.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1 });
  s.ctx.config.publicOrigins = ["https://real.example"];
  const shard = job.spec.shards[0]!.cid;
  const { chainId, addresses } = s.ctx.chain;
  const signing = {
    signer: nodeUploadSigner(job.nodes[0]!.key),
    domain: uploadDomain(chainId, addresses.registry),
    now: s.ctx.now,
  };
  /** The node's gateway to a coordinator at `origin`, whose requests `serve` answers. */
  const gatewayAt = (origin: string, serve: CoordinatorFetch) =>
    new Gateway(new CoordinatorClient(Object.assign(serve, { origin })), signing);
  let captured: HeadersInit | undefined;
  const phisher = gatewayAt("https://phish.example", (_path, init) => {
    captured = init?.headers;
    return Promise.resolve(new Response("not here", { status: 404 }));
  });

  // Execute: the node reads the shard at the phisher, which replays its headers here.
  await phisher.get(shard, undefined, true).catch(() => undefined);
  const replayed = await s.call(`/svdb/${shard}`, { headers: captured });

  // Assert: refused (signed for another origin), as is a read bound to no origin; the node's
  // own read, signed for this coordinator, goes through.
  assert.equal(replayed.status, 401);
  assert.equal((await replayed.json()).error.code, "WRONG_ORIGIN");
  assert.deepEqual(await getAs(s, shard, signing.signer), [401, "WRONG_ORIGIN"]);
  const real = gatewayAt("https://real.example", (path, init) => s.call(path, init));
  assert.equal(
    (await real.get(shard, undefined, true)).length,
    (await fx.store.get(shard)).length,
  );
});

Deno.test("victim: a private upload that names another CID than its body's stores nothing, and its retry is private", async () => {
  // Found in the storage audit: the CID was compared once the bytes were stored, so an owner that
  // declared the CIDv0 `ipfs add` prints (or any typo) got 422 with its shard stored public, and
  // the retry with the right CID was refused as ALREADY_PUBLIC (job submit then uploads public).
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const owner = fx.clients[3]!;
  const did = await createTestDid(fx, owner);
  const shard = randomBytes(5_000, 21);
  const v1 = (await computeCid(shard)).toString();
  const v0 = (await computeCid(shard, { cidVersion: 0 })).toString();
  const signer = accountUploadSigner(owner);

  const wrong = await uploadPrivate(s, shard, signer, { did, declared: v0 });
  assert.deepEqual([wrong.status, wrong.body.error.code], [422, "CID_MISMATCH"]);
  assert.equal(await s.ctx.store.has(v1), false, "nothing stored");

  const retry = await uploadPrivate(s, shard, signer, { did });
  assert.equal(retry.status, 201, JSON.stringify(retry.body));
  assert.deepEqual(await getAs(s, v1), [401, "SIGNATURE_MISSING"]);
});

Deno.test("a CID whose sha2-256 digest is not 32 bytes is a 400, not a 500", async () => {
  // Found in the storage audit: a 2,100-byte digest reached KV as a key too large to read.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const cid = CID.createV1(0x55, createDigest(0x12, new Uint8Array(2_100))).toString();
  const res = await s.call(`/svdb/${cid}`);
  const body = await res.json();
  assert.deepEqual([res.status, body.error.code], [400, "UNSUPPORTED_CID"]);
  const did = await createTestDid(fx, fx.clients[3]!);
  const up = await uploadPrivate(s, randomBytes(10, 3), accountUploadSigner(fx.clients[3]!), {
    did,
    declared: cid,
  });
  assert.equal(up.status, 400, JSON.stringify(up.body));
});

Deno.test("attacker: a cache in front of the gateway is told to keep no copy of a signed read", async () => {
  // Prepare: an owner's private shard. Found auditing the HTTP surface: signed reads went out
  // with no cache policy, and a CDN set to cache content-addressed URLs whole would have served
  // the owner's read to anyone asking that URL.
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario();
  const owner = fx.clients[2]!;
  const did = await createTestDid(fx, owner);
  const shard = randomBytes(5_000, 21);
  const cid = (await computeCid(shard)).toString();
  assert.equal((await uploadPrivate(s, shard, accountUploadSigner(owner), { did })).status, 201);
  const { chainId, addresses } = s.ctx.chain;
  const signedGet = async (path: string) => {
    const opts = { method: "GET", path: `/svdb/${cid}`, now: s.ctx.now() };
    const domain = uploadDomain(chainId, addresses.registry);
    const headers = await signUpload(accountUploadSigner(owner), domain, new Uint8Array(), opts);
    return await s.call(path, { headers });
  };

  // Execute: the owner reads the file and its root block.
  const whole = await signedGet(`/svdb/${cid}`);
  const raw = await signedGet(`/svdb/${cid}?format=raw`);

  // Assert
  for (const res of [whole, raw]) {
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.equal(res.headers.get("cache-control"), "private, no-store");
  }
});
