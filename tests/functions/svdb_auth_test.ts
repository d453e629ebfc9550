/**
 * POST /svdb from the attacker's side: an unsigned, forged, stale, replayed or foreign upload is
 * refused (401) without the body being read; a signer who is neither a registered node nor an
 * owner is refused (403); no signer can store more than its quota (413), even with uploads
 * racing each other), nor signers whose only credential is a DID more than their shared pool; and one upload may pass `maxBlobBytes` only up to the update size of a job
 * its signer is bound to.
 */
import assert from "node:assert/strict";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { didHashFromAuthKey, formatDid } from "../../lib/did/did.ts";
import { createDid, revokeDid } from "../../lib/did/registry.ts";
import {
  accountUploadSigner,
  nodeUploadSigner,
  signUpload,
  uploadDomain,
  type UploadSigner,
} from "../../lib/store/upload_signature.ts";
import { jobUploadBytes, quotaLeft } from "../../lib/coordinator/svdb_access.ts";
import { collectGarbage } from "../../lib/store/collect_garbage.ts";
import {
  createTestDid,
  postSigned,
  read,
  type Scenario,
  setupCoordinator,
} from "./_coordinator.ts";
import { randomBytes } from "../lib/_helpers.ts";
import { rpcQueries } from "../lib/chain/_log_queries.ts";

const CHUNK = 64 * 1024;

/** A chunked body of `total` bytes that counts what the server pulled. */
function counted(total: number): { body: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled >= total) return controller.close();
      pulled += CHUNK;
      controller.enqueue(new Uint8Array(CHUNK).fill(1));
    },
  });
  return { body, pulled: () => pulled };
}

async function codeOf(res: Response): Promise<[number, string]> {
  const r = await read(res);
  return [r.status, r.body?.error?.code ?? r.body?.cid];
}

Deno.test("svdb uploads: signatures", async (t) => {
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario();
  const node = nodeUploadSigner((await s.node()).key);
  const bytes = randomBytes(50_000, 1);

  await t.step("an unsigned upload is a 401 and its body is not read", async () => {
    // Prepare
    const { body, pulled } = counted(8 << 20);
    const before = (await fx.store.leases()).length;
    // Execute
    const res = await s.route(
      new Request("http://coordinator/svdb", {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body,
      }),
    );
    // Assert
    assert.deepEqual(await codeOf(res), [401, "SIGNATURE_MISSING"]);
    assert.ok(pulled() <= CHUNK, `pulled ${pulled()} bytes of an unauthenticated body`);
    assert.equal((await fx.store.leases()).length, before, "nothing stored");
  });

  await t.step("a signature over another body, key or deployment is a 401", async () => {
    // another body than the one signed
    const other = randomBytes(50_000, 2);
    const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
    const signed = await signUpload(node, domain, bytes, { now: s.ctx.now() });
    const swapped = await s.call("/svdb", { method: "POST", headers: signed, body: other });
    assert.deepEqual(await codeOf(swapped), [401, "SIGNATURE_INVALID"]);
    // a registered node's key named, another key signing
    const impostor: UploadSigner = { ...nodeUploadSigner(generateNodeKey()), id: node.id };
    assert.deepEqual(await codeOf(await postSigned(s, impostor, bytes)), [
      401,
      "SIGNATURE_INVALID",
    ]);
    // signed for another chain
    const foreign = await signUpload(
      node,
      uploadDomain(s.ctx.chain.chainId + 1, s.ctx.chain.addresses.registry),
      bytes,
      { now: s.ctx.now() },
    );
    const elsewhere = await s.call("/svdb", { method: "POST", headers: foreign, body: bytes });
    assert.deepEqual(await codeOf(elsewhere), [401, "SIGNATURE_INVALID"]);
    // not a key at all
    const junk = await postSigned(s, node, bytes, { headers: { "x-artha-signer": "0x1234" } });
    assert.deepEqual(await codeOf(junk), [401, "SIGNATURE_MALFORMED"]);
  });

  await t.step("a stale or replayed signature is a 401", async () => {
    const window = s.ctx.config.uploadSignatureWindowMs;
    for (const skew of [-window - 1_000, window + 1_000]) {
      const res = await postSigned(s, node, bytes, { now: s.ctx.now() + skew });
      assert.deepEqual(await codeOf(res), [401, "SIGNATURE_EXPIRED"]);
    }
    const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
    const signed = await signUpload(node, domain, bytes, { now: s.ctx.now() });
    const first = await s.call("/svdb", { method: "POST", headers: signed, body: bytes });
    assert.equal(first.status, 201);
    await first.body?.cancel();
    const again = await s.call("/svdb", { method: "POST", headers: signed, body: bytes });
    assert.deepEqual(await codeOf(again), [401, "SIGNATURE_REPLAYED"]);
  });
});

Deno.test("svdb uploads: who may store", async (t) => {
  await using fx = await setupCoordinator({ operators: 2 });
  const stranger = fx.clients[3]!; // an operator's account: no job, no DID yet
  const s = await fx.scenario({ config: { uploadWriters: [fx.clients[2]!.account.address] } });
  const bytes = randomBytes(10_000, 3);
  const status = async (signer: UploadSigner, did?: string) =>
    await codeOf(await postSigned(s, signer, bytes, { did }));

  await t.step("an unregistered node key is a 403; a registered one may store", async () => {
    assert.deepEqual(await status(nodeUploadSigner(generateNodeKey())), [403, "SIGNER_UNKNOWN"]);
    const staked = await s.node({ bind: false }); // on chain, not yet bound here: registered
    assert.equal((await status(nodeUploadSigner(staked.key)))[0], 201);
  });

  await t.step("an account with no job and no DID is a 403, even naming a DID", async () => {
    assert.deepEqual(await status(accountUploadSigner(stranger)), [
      403,
      "SIGNER_UNKNOWN",
    ]);
    assert.deepEqual(await status(accountUploadSigner(fx.owner)), [
      403,
      "SIGNER_UNKNOWN",
    ]);
  });

  await t.step(
    "a DID's controller may store before its first job; not with another's DID",
    async () => {
      const authKey = generateNodeKey();
      const didHash = didHashFromAuthKey(authKey.publicKey);
      await createDid(stranger, {
        addresses: fx.addresses,
        didHash,
        authKey,
        encKey: didHash,
        metaCid: "x",
      });
      const signer = accountUploadSigner(stranger);
      assert.equal((await status(signer, formatDid(didHash)))[0], 201);
      const other = accountUploadSigner(fx.owner);
      assert.deepEqual(await status(other, formatDid(didHash)), [403, "SIGNER_UNKNOWN"]);
      await revokeDid(stranger, { addresses: fx.addresses, didHash });
      assert.deepEqual(await status(signer, formatDid(didHash)), [403, "SIGNER_UNKNOWN"]);
    },
  );

  await t.step("a job owner, a configured writer and the coordinator may store", async () => {
    await s.job({ nodes: 1 }); // the owner submits its first job
    assert.equal((await status(accountUploadSigner(fx.owner)))[0], 201);
    assert.equal((await status(accountUploadSigner(fx.clients[2]!)))[0], 201);
    assert.equal((await status(accountUploadSigner(fx.coordinator)))[0], 201);
  });
});

Deno.test("svdb uploads: quotas", async (t) => {
  await using fx = await setupCoordinator({ operators: 1 });
  const quota = 300_000;
  const s: Scenario = await fx.scenario({ config: { uploadQuotaBytes: quota } });
  const [a, b, c] = [await s.node(), await s.node(), await s.node()].map((n) =>
    nodeUploadSigner(n.key)
  );
  let seed = 10;
  // With its length, as fetch sends a byte body: refused up front, before any byte is stored.
  const upload = async (signer: UploadSigner, size: number) =>
    await codeOf(
      await postSigned(s, signer, randomBytes(size, seed++), {
        headers: { "content-length": String(size) },
      }),
    );

  await t.step("a signer past its quota gets 413; another signer does not", async () => {
    assert.equal((await upload(a!, 200_000))[0], 201);
    assert.deepEqual(await upload(a!, 200_000), [413, "QUOTA_EXCEEDED"]);
    assert.equal((await upload(a!, 100_000))[0], 201); // exactly the quota
    assert.deepEqual(await upload(a!, 1), [413, "QUOTA_EXCEEDED"]);
    assert.equal((await upload(b!, 200_000))[0], 201);
  });

  await t.step("an exhausted signer's body is not read", async () => {
    const { body, pulled } = counted(4 << 20);
    const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
    const signed = await signUpload(a!, domain, new Uint8Array(), { now: s.ctx.now() });
    const res = await s.route(
      new Request("http://coordinator/svdb", { method: "POST", headers: signed, body }),
    );
    assert.deepEqual(await codeOf(res), [413, "QUOTA_EXCEEDED"]);
    assert.ok(pulled() <= CHUNK, `pulled ${pulled()}`);
  });

  await t.step("racing uploads never pass the quota together", async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => upload(c!, 100_000)));
    const stored = results.filter(([st]) => st === 201).length;
    assert.equal(stored, 3, JSON.stringify(results));
    assert.ok(results.every(([st, code]) => st === 201 || code === "QUOTA_EXCEEDED"));
  });

  await t.step("attacker: racing streamed uploads store no more than the quota", async () => {
    // Prepare: a fresh signer and five bodies of 128 KiB streamed at once, with no length to
    // refuse them by up front. Found in the storage audit: each upload checked the quota before
    // its body and was charged after it, so all five were read and stored (twenty 1 MiB bodies
    // stored 20 MiB on a 1 MiB quota), the refused ones kept under a lease until a collection.
    const f = nodeUploadSigner((await s.node()).key);
    const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
    const bodies = Array.from({ length: 5 }, () => counted(2 * CHUNK));

    // Execute
    const content = new Uint8Array(2 * CHUNK).fill(1); // what counted() sends
    const results = await Promise.all(bodies.map(async ({ body }) => {
      const signed = await signUpload(f, domain, content, { now: s.ctx.now() });
      const req = new Request("http://coordinator/svdb", { method: "POST", headers: signed, body });
      return await codeOf(await s.route(req));
    }));

    // Assert: the stored bodies fit the quota; the others were refused before the server read
    // them (a stream fills its first chunk by itself), and the quota counts what was stored.
    const stored = results.filter(([st]) => st === 201).length;
    assert.ok(stored * 2 * CHUNK <= quota, JSON.stringify(results));
    results.forEach(([st, code], i) => {
      if (st === 201) return;
      assert.equal(code, "QUOTA_EXCEEDED");
      assert.ok(bodies[i]!.pulled() <= CHUNK, `refused body ${i} read: ${bodies[i]!.pulled()}`);
    });
    assert.equal(await quotaLeft(s.ctx, f.id), quota - stored * 2 * CHUNK);
  });

  await t.step(
    "attacker: bodies refused for their hash or size count against the quota",
    async () => {
      // Prepare: a fresh signer; each body differs from the one its header signs.
      const d = nodeUploadSigner((await s.node()).key);
      const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
      const forged = async (size: number) => {
        const headers = await signUpload(d, domain, new Uint8Array([size & 255]), {
          now: s.ctx.now(),
        });
        const body = randomBytes(size, seed++);
        return await codeOf(await s.call("/svdb", { method: "POST", headers, body }));
      };

      // Execute + Assert: every refused byte was stored under a lease, so it is charged; past
      // the quota the next body is not read at all.
      assert.deepEqual(await forged(100_000), [401, "SIGNATURE_INVALID"]);
      assert.equal(await quotaLeft(s.ctx, d.id), quota - 100_000);
      assert.deepEqual(await forged(150_000), [401, "SIGNATURE_INVALID"]);
      const { body } = counted(1 << 20); // streamed: no length to refuse it up front
      const signed = await signUpload(d, domain, new Uint8Array(), { now: s.ctx.now() });
      const big = await s.route(
        new Request("http://coordinator/svdb", { method: "POST", headers: signed, body }),
      );
      assert.deepEqual(await codeOf(big), [413, "QUOTA_EXCEEDED"]);
      assert.equal(await quotaLeft(s.ctx, d.id), 0);
      assert.deepEqual(await forged(1_000), [413, "QUOTA_EXCEEDED"]);
    },
  );

  await t.step("attacker: a body dropped mid-upload counts against the quota", async () => {
    // Prepare: a fresh signer whose bodies break off after 128 KiB, as a client that closes the
    // connection does: the blocks received were written all the same. Uncharged, such uploads
    // wrote without end until the next collection.
    const e = nodeUploadSigner((await s.node()).key);
    const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
    const dropped = async () => {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 2 * CHUNK) return controller.error(new Error("connection reset"));
          sent += CHUNK;
          controller.enqueue(randomBytes(CHUNK, seed++));
        },
      });
      const signed = await signUpload(e, domain, new Uint8Array(), { now: s.ctx.now() });
      const req = new Request("http://coordinator/svdb", { method: "POST", headers: signed, body });
      return (await s.route(req)).status;
    };

    // Execute: two dropped uploads, then one that would fit what the quota left uncharged.
    const statuses = [await dropped(), await dropped()];

    // Assert: each dropped body's bytes were charged; the next one past the rest is refused.
    assert.ok(statuses.every((st) => st >= 400), JSON.stringify(statuses));
    assert.equal(await quotaLeft(s.ctx, e.id), quota - 4 * CHUNK);
    assert.deepEqual(await upload(e, quota - 2 * CHUNK), [413, "QUOTA_EXCEEDED"]);
  });

  await t.step("the quota is per window", async () => {
    s.advance(s.ctx.config.uploadQuotaWindowMs);
    assert.equal((await upload(a!, 200_000))[0], 201);
  });
});

Deno.test("attacker: DIDs cost one transaction each, so signers with only a DID share one pool of upload bytes", async () => {
  // Prepare: four accounts with no job and no node, each per-signer quota 300 kB; the pool
  // for DID-only signers 500 kB.
  await using fx = await setupCoordinator({ operators: 4 });
  const s = await fx.scenario({
    config: { uploadQuotaBytes: 300_000, uploadDidPoolBytes: 500_000 },
  });
  const sybils = fx.clients.slice(2, 6);
  const dids: string[] = [];
  for (const account of sybils) dids.push(await createTestDid(fx, account));
  let seed = 40;
  const upload = async (signer: UploadSigner, did?: string) =>
    await read(await postSigned(s, signer, randomBytes(200_000, seed++), { did }));

  // Execute: every sybil DID uploads 200 kB, within its own quota.
  const results = [];
  for (const [i, account] of sybils.entries()) {
    results.push(await upload(accountUploadSigner(account), dids[i]));
  }

  // Assert: the DIDs together store what the pool holds, not four quotas' worth; the refusal
  // says why; a job owner and a registered node are not held by the pool.
  assert.deepEqual(results.map((r) => r.status), [201, 201, 413, 413]);
  assert.equal(results[2]!.body.error.code, "QUOTA_EXCEEDED");
  assert.match(results[2]!.body.error.message, /signers with only a DID share/);
  await s.job({ nodes: 1 });
  assert.equal((await upload(accountUploadSigner(fx.owner))).status, 201);
  assert.equal((await upload(nodeUploadSigner((await s.node()).key))).status, 201);
});

Deno.test("svdb uploads: the size limit follows the job the signer is bound to", async (t) => {
  await using fx = await setupCoordinator({ operators: 2 });
  // maxBlobBytes far below the tiny job's largest update (8 bytes per parameter + 1 MiB)
  const s = await fx.scenario({ config: { maxBlobBytes: 100_000 } });
  const job = await s.job();
  const limit = jobUploadBytes(job.spec);
  const bound = nodeUploadSigner(job.nodes[0]!.key);
  const unbound = nodeUploadSigner((await s.node()).key);
  const upload = async (signer: UploadSigner, size: number) =>
    await codeOf(await postSigned(s, signer, randomBytes(size, size)));

  await t.step(
    "a node holding a task may upload past maxBlobBytes, up to its job's update",
    () => upload(bound, 500_000).then(([status]) => assert.equal(status, 201)),
  );

  await t.step("a node of no job stays at maxBlobBytes", async () => {
    assert.deepEqual(await upload(unbound, 500_000), [413, "PAYLOAD_TOO_LARGE"]);
  });

  await t.step("past its job's update size, a bound node is refused too", async () => {
    assert.deepEqual(await upload(bound, limit + 1), [413, "PAYLOAD_TOO_LARGE"]);
  });
});

Deno.test("victim: an upload slower than the signature window keeps its blocks through a collection", async () => {
  // Prepare: a node's signed upload whose body takes 10 minutes (a 500 MB update at 10 Mbit/s
  // takes ~7), during which a collection starts. Found in the storage audit: the blocks' first
  // lease ran from the body's start for the 5-minute signature window; the collection, waiting
  // for the put, ran before the upload's 24-hour lease and deleted an upload answered 201.
  await using fx = await setupCoordinator({ operators: 1 });
  const s: Scenario = await fx.scenario();
  const signer = nodeUploadSigner((await s.node()).key);
  const bytes = randomBytes(3 * CHUNK, 7);
  const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
  const signed = await signUpload(signer, domain, bytes, { now: s.ctx.now() });
  let collecting: Promise<unknown> | undefined;
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === bytes.length) return controller.close();
      if (sent === CHUNK) {
        s.advance(10 * 60_000);
        collecting = collectGarbage(s.ctx.store, s.ctx.now());
      }
      controller.enqueue(bytes.slice(sent, sent += CHUNK));
    },
  });

  // Execute
  const res = await read(
    await s.route(
      new Request("http://coordinator/svdb", { method: "POST", headers: signed, body }),
    ),
  );
  await collecting;

  // Assert: stored, and still there after the collection.
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.deepEqual(await s.ctx.store.get(res.body.cid), bytes);
});

Deno.test("attacker: an upload whose body stops coming is cut off and charged", async () => {
  // Found in the storage audit: nothing timed an upload's body out, so a signer sending a byte
  // and then nothing held a connection, and the store's collection behind it, for as long as it
  // liked.
  await using fx = await setupCoordinator({ operators: 1 });
  const s: Scenario = await fx.scenario({ config: { uploadIdleMs: 100 } });
  const signer = nodeUploadSigner((await s.node()).key);
  const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
  const bytes = randomBytes(2 * CHUNK, 9);
  const signed = await signUpload(signer, domain, bytes, { now: s.ctx.now() });
  let cancelled = false;
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent) controller.enqueue(bytes.slice(0, CHUNK));
      sent = true;
      return new Promise(() => {}); // and then nothing
    },
    cancel() {
      cancelled = true;
    },
  });
  const before = await quotaLeft(s.ctx, signer.id);

  // Execute
  const res = await read(
    await s.route(
      new Request("http://coordinator/svdb", { method: "POST", headers: signed, body }),
    ),
  );

  // Assert: refused, the body released, and what came charged.
  assert.equal(res.status, 408, JSON.stringify(res.body));
  assert.equal(res.body.error.code, "UPLOAD_STALLED");
  assert.equal(cancelled, true);
  assert.equal(before - await quotaLeft(s.ctx, signer.id), CHUNK);
});

Deno.test("attacker: an upload trickled for longer than any pause holds no collection back", async () => {
  // Found in the storage audit: the pause limit is per gap, so a signed upload sending a byte just
  // inside it, for as long as it liked, held its put's share of the store's lock, and a collection
  // (run once no put is in flight) never ran: expired leases, refused bodies and released updates
  // piled up until the disk was full. Prepare: a blob whose lease is over; an upload of 40 bytes
  // sent one every 50 ms (2 s in all; the pause limit is 200 ms).
  await using fx = await setupCoordinator({ operators: 1 });
  const s: Scenario = await fx.scenario({ config: { uploadIdleMs: 200 } });
  const expired = await s.ctx.store.put(randomBytes(4096, 3), {
    pin: false,
    leaseUntil: s.ctx.now() - 1,
  });
  const signer = nodeUploadSigner((await s.node()).key);
  const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
  const bytes = randomBytes(40, 11);
  const signed = await signUpload(signer, domain, bytes, { now: s.ctx.now() });
  let sent = 0;
  let started!: () => void;
  const trickling = new Promise<void>((r) => started = r);
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === bytes.length) return controller.close();
      if (sent > 0) await new Promise((r) => setTimeout(r, 50));
      controller.enqueue(bytes.slice(sent, ++sent));
      if (sent === 3) started(); // being read: the stream asks for its first chunk unread
    },
  });
  const uploading = s.route(
    new Request("http://coordinator/svdb", { method: "POST", headers: signed, body }),
  );

  // Execute: a collection starts while the upload trickles.
  await trickling;
  const collected = collectGarbage(s.ctx.store, s.ctx.now()).then(() => "collected");
  const first = await Promise.race([collected, uploading.then(() => "uploaded")]);

  // Assert: the collection ran before the upload ended; the upload is stored and kept.
  assert.equal(first, "collected");
  assert.equal(sent < bytes.length, true, "the upload was still trickling");
  assert.equal(await s.ctx.store.has(expired), false, "the expired blob is gone");
  const res = await read(await uploading);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  await collectGarbage(s.ctx.store, s.ctx.now());
  assert.deepEqual(await s.ctx.store.get(res.body.cid), bytes);
});

Deno.test("attacker: tiny uploads are charged a block each, so a quota bounds how many there are", async () => {
  // Found in the storage audit: an upload was charged its body's bytes alone, so a day's quota
  // paid for hundreds of millions of 4-byte uploads, each a block file, a lease file and a root
  // that every collection walks under the store's lock. Prepare: a 64 KiB quota.
  await using fx = await setupCoordinator({ operators: 1 });
  const s: Scenario = await fx.scenario({ config: { uploadQuotaBytes: 64 * 1024 } });
  const signer = nodeUploadSigner((await s.node()).key);

  // Execute: 4-byte uploads, each distinct, until one is refused.
  const codes: number[] = [];
  for (let i = 0; i < 40 && codes.at(-1) !== 413; i++) {
    codes.push((await postSigned(s, signer, new Uint8Array([1, 2, 3, i]))).status);
  }

  // Assert: 16 stored (64 KiB at 4 KiB each), the 17th refused over the quota.
  assert.deepEqual(codes, [...Array(16).fill(201), 413]);
});

Deno.test("attacker: one signed upload replayed in a burst costs the chain one signer lookup", async () => {
  // Prepare: a key no registry knows signs one upload. Found auditing the HTTP surface: the nonce
  // was recorded only after the signer's role and quota passed, so a signer with no role was
  // never charged one and its headers, replayed for the signature window, made chain reads each.
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario();
  const stranger = nodeUploadSigner(generateNodeKey());
  const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
  const bytes = randomBytes(1_000, 3);
  const signed = await signUpload(stranger, domain, bytes, { now: s.ctx.now() });

  // Execute: 20 copies of the same request at once.
  const { value: codes, queries } = await rpcQueries("eth_call", () =>
    Promise.all(
      Array.from({ length: 20 }, async () =>
        await codeOf(await s.call("/svdb", { method: "POST", headers: signed, body: bytes }))),
    ));

  // Assert: one lookup refuses the signer; every copy is a replay, read from KV alone.
  const refused = codes.filter(([status]) => status === 403);
  assert.deepEqual(refused, [[403, "SIGNER_UNKNOWN"]]);
  assert.equal(codes.filter(([, code]) => code === "SIGNATURE_REPLAYED").length, 19);
  assert.ok(queries <= 1, `${queries} chain reads`);
});

Deno.test("victim: an upload the chain could not judge is retried with the same signature", async () => {
  // Prepare: a node's signed upload whose signer lookup meets an RPC that does not answer. Found
  // reviewing the nonce-first change: the 503 told the client to retry, which it does with the
  // same headers, and the retry was refused as a replay.
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario();
  const node = nodeUploadSigner((await s.node()).key);
  const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
  const bytes = randomBytes(1_000, 4);
  const signed = await signUpload(node, domain, bytes, { now: s.ctx.now() });
  const fetch = globalThis.fetch;
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const body = typeof init?.body === "string" ? init.body : "";
    if (body.includes('"eth_call"')) return Promise.reject(new TypeError("connection refused"));
    return fetch(input, init);
  };
  let first: [number, string];
  try {
    first = await codeOf(await s.call("/svdb", { method: "POST", headers: signed, body: bytes }));
  } finally {
    globalThis.fetch = fetch;
  }

  // Execute: the client's retry, once the RPC is back.
  const retry = await s.call("/svdb", { method: "POST", headers: signed, body: bytes });

  // Assert
  assert.equal(first[0], 503);
  assert.equal(retry.status, 201);
  await retry.body?.cancel();
});
