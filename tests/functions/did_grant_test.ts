import assert from "node:assert/strict";
import { bytesToHex, type Hex, hexToBytes } from "../../lib/crypto/digest.ts";
import { WRAPPED_KEY_BYTES } from "../../lib/coordinator/data_grants.ts";
import { WRAPPED_KEY_VERSION } from "../../lib/crypto/key_wrap.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { generateEncKey } from "../../lib/crypto/enc_key.ts";
import { wrapKey } from "../../lib/crypto/key_wrap.ts";
import { registerIdentity } from "../../lib/did/resolve.ts";
import { didHashFromAuthKey, formatDid } from "../../lib/did/did.ts";
import { createDid, getDid, updateMetadata } from "../../lib/did/registry.ts";
import { openStore } from "../../lib/store/open_store.ts";
import { grantDataAccess, registerDataset, revokeDataAccess } from "../../lib/did/data_access.ts";
import { datasetIdOf, openDataset, shareDataset } from "../../lib/did/dataset_share.ts";
import { accountUploadSigner, signUpload, uploadDomain } from "../../lib/store/upload_signature.ts";
import type { ArthaClient } from "../../lib/chain/client.ts";
import { prepareJob } from "../../lib/job/job_owner.ts";
import { publishDataset } from "../../lib/dataset/publish.ts";
import { collectSvdbGarbage } from "../../lib/coordinator/svdb_retention.ts";
import { createOwnerDid } from "../../lib/dataset/create_did.ts";
import { buildDidDocument } from "../../lib/did/did_document.ts";
import { computeCid } from "../../lib/store/cid.ts";
import { Gateway } from "../../lib/worker/gateway.ts";
import { CoordinatorClient, type CoordinatorFetch } from "../../lib/worker/client.ts";
import {
  type Coordinator,
  escrowSpec,
  read,
  type Scenario,
  setupCoordinator,
  TINY_BATCH,
  TINY_MODEL,
} from "./_coordinator.ts";
import { gatewayOf } from "./_did_gateway.ts";

/** POST /did/grant signed by `client`'s account, naming its DID (as a data owner signs). */
async function postGrant(
  s: Scenario,
  client: ArthaClient,
  did: string,
  grant: Record<string, unknown>,
): Promise<Response> {
  const body = new TextEncoder().encode(JSON.stringify(grant));
  const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
  const signed = await signUpload(accountUploadSigner(client), domain, body, {
    path: "/did/grant",
    did,
    now: s.ctx.now(),
  });
  return await s.call("/did/grant", {
    method: "POST",
    headers: { "content-type": "application/json", ...signed },
    body,
  });
}

Deno.test("did grant: a data owner shares an encrypted dataset without the coordinator seeing the key", async (t) => {
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const [owner, grantee] = [fx.clients[2]!, fx.clients[3]!];
  const addresses = fx.addresses;
  const store = fx.store;
  const ownerEnc = generateEncKey();
  const granteeEnc = generateEncKey();
  const ownerId = await registerIdentity(owner, {
    addresses,
    store,
    authKey: generateNodeKey(),
    encKey: ownerEnc.publicKeyHex,
  });
  const granteeId = await registerIdentity(grantee, {
    addresses,
    store,
    authKey: generateNodeKey(),
    encKey: granteeEnc.publicKeyHex,
  });
  const plaintext = new TextEncoder().encode("patient,age\nA,41\nB,37\n");
  const { datasetId, dataKey } = await shareDataset(owner, {
    addresses,
    store,
    ownerDid: ownerId.didHash,
    plaintext,
  });

  await t.step("resolve returns the W3C document of an active DID", async () => {
    const res = await read(await s.call(`/did/resolve?did=${granteeId.did}`));
    assert.equal(res.status, 200);
    assert.equal(res.body.didDocument.id, granteeId.did);
    assert.equal(res.body.didDocumentMetadata.deactivated, false);
    assert.equal((await s.call("/did/resolve?did=did:artha:nothex")).status, 400);
    assert.equal((await s.call(`/did/resolve?did=did:artha:${"ab".repeat(32)}`)).status, 404);
  });

  await t.step(
    "attacker: a DID naming a missing, foreign or oversized document is a 4xx",
    async () => {
      // Prepare: DIDs whose metaCid is a document stored elsewhere, a blob that is no document,
      // and a file far larger than any document (anyone may create a DID naming any CID).
      const elsewhere = await openStore({ kind: "memory" });
      const lost = await registerIdentity(owner, {
        addresses,
        store: elsewhere,
        authKey: generateNodeKey(),
        encKey: generateEncKey().publicKeyHex,
      });
      await elsewhere.close();
      const named = async (bytes: Uint8Array) => {
        const authKey = generateNodeKey();
        const didHash = didHashFromAuthKey(authKey.publicKeyHex);
        const metaCid = (await store.put(bytes)).toString();
        const encKey = generateEncKey().publicKeyHex;
        await createDid(owner, { addresses, didHash, authKey, encKey, metaCid });
        return formatDid(didHash);
      };
      const garbage = await named(new TextEncoder().encode("not a document"));
      const huge = await named(new Uint8Array(4 << 20).fill(32));

      // Execute + Assert: 404 / 422 with stable codes, never a 500.
      const missing = await read(await s.call(`/did/resolve?did=${lost.did}`));
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.code, "DID_DOCUMENT_MISSING");
      for (const did of [garbage, huge]) {
        const res = await read(await s.call(`/did/resolve?did=${did}`));
        assert.equal(res.status, 422, did);
        assert.equal(res.body.error.code, "DID_DOCUMENT_INVALID");
      }
    },
  );

  await t.step(
    "attacker: a DID naming a private file as its document learns nothing about that file",
    async () => {
      // Found in the privacy audit: resolution read whatever CID the DID named, and its answer
      // (the decoder's complaint, or a document's id) told the caller what a job's private shard
      // held, a file no route serves to it.
      const job = await s.job({ nodes: 1, rounds: 1 });
      const metaCid = job.spec.shards[0]!.cid;
      const authKey = generateNodeKey();
      const didHash = didHashFromAuthKey(authKey.publicKeyHex);
      const encKey = generateEncKey().publicKeyHex;
      await createDid(owner, { addresses, didHash, authKey, encKey, metaCid });
      const res = await read(await s.call(`/did/resolve?did=${formatDid(didHash)}`));
      assert.equal(res.status, 403);
      assert.equal(res.body.error.code, "PRIVATE_FILE");
      assert.doesNotMatch(JSON.stringify(res.body), /JSON|Unexpected|DID_DOCUMENT|does not match/i);
    },
  );

  await t.step(
    "attacker: a DID whose document has the wrong shapes, or whose metaCid is no CID, is a 422",
    async () => {
      // Found in the DID audit: `verificationMethod: {}` threw a TypeError in the key lookup,
      // and a 3 KB metaCid overflowed the KV key of the privacy check: both answered 500.
      const didOf = async (metaCid: (didHash: Hex) => Promise<string>) => {
        const authKey = generateNodeKey();
        const didHash = didHashFromAuthKey(authKey.publicKeyHex);
        const encKey = generateEncKey().publicKeyHex;
        const meta = await metaCid(didHash);
        await createDid(owner, { addresses, didHash, authKey, encKey, metaCid: meta });
        return formatDid(didHash);
      };
      const shapes = [
        { verificationMethod: {}, authentication: ["x"] },
        { verificationMethod: [null], authentication: [7], keyAgreement: "k" },
        // Found in the DID audit: an id that is no did:artha was a 500 that logged the id.
        { id: "not a did: secret-value-here" },
      ];
      const dids = [await didOf(() => Promise.resolve("b".repeat(3_000)))];
      for (const shape of shapes) {
        dids.push(
          await didOf(async (didHash) => {
            const doc = { id: formatDid(didHash), ...shape };
            return (await fx.store.put(new TextEncoder().encode(JSON.stringify(doc)))).toString();
          }),
        );
      }
      for (const did of dids) {
        const res = await read(await s.call(`/did/resolve?did=${did}`));
        assert.equal(res.status, 422, `${did}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, "DID_DOCUMENT_INVALID");
        assert.doesNotMatch(JSON.stringify(res.body), /secret-value/);
      }
    },
  );

  await t.step(
    "attacker: a DID switched to a private file between the coordinator's reads never loads it",
    async () => {
      // Found in the DID audit: the private-file check read the DID's record, and resolution
      // read it again; a metadata update landing in between loaded the private file and told
      // its shape. Here the update lands right after the check's read.
      const job = await s.job({ nodes: 1, rounds: 1 });
      const authKey = generateNodeKey();
      const didHash = didHashFromAuthKey(authKey.publicKeyHex);
      const encKey = generateEncKey().publicKeyHex;
      const doc = buildDidDocument({ didHash, authKey: authKey.publicKeyHex, encKey });
      const benign = (await store.put(new TextEncoder().encode(JSON.stringify(doc)))).toString();
      await createDid(owner, { addresses, didHash, authKey, encKey, metaCid: benign });
      const real = s.ctx.chain.client;
      let switched = false;
      const racing = new Proxy(real, {
        get(target, prop, receiver) {
          if (prop !== "readContract") return Reflect.get(target, prop, receiver);
          return async (args: { functionName: string; args: unknown[] }) => {
            const out = await (target.readContract as (a: unknown) => Promise<unknown>)(args);
            if (!switched && args.functionName === "getDID" && args.args[0] === didHash) {
              switched = true;
              const metaCid = job.spec.shards[0]!.cid;
              await updateMetadata(owner, { addresses, didHash, metaCid });
            }
            return out;
          };
        },
      });
      s.ctx.chain = { ...s.ctx.chain, client: racing as typeof real };
      try {
        const res = await read(await s.call(`/did/resolve?did=${formatDid(didHash)}`));
        assert.ok(switched);
        // What the first read named: the benign document, whole; never the private file.
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.didDocumentMetadata.metaCid, benign);
      } finally {
        s.ctx.chain = { ...s.ctx.chain, client: real };
      }
      const after = await read(await s.call(`/did/resolve?did=${formatDid(didHash)}`));
      assert.equal(after.status, 403);
    },
  );

  let wrappedKeyCid = "";
  await t.step(
    "prepare + grant: the owner wraps client-side, the coordinator stores it",
    async () => {
      const prep = await read(
        await s.post("/did/grant/prepare", { datasetId, granteeDid: granteeId.did }),
      );
      assert.equal(prep.status, 200);
      // Found in the DID audit: the answer named the key to wrap to, and a coordinator that
      // named its own got the data key from an owner trusting it (the chain refused the grant
      // after, too late). The key is read from the owner's own RPC; the answer names none.
      assert.equal(prep.body.encKey, undefined);
      assert.match(prep.body.next, /getDID\(granteeDid\)\.encKey/);
      const { encKey } = (await getDid(owner, { addresses, didHash: granteeId.didHash }))!;
      assert.equal(encKey, granteeEnc.publicKeyHex);
      const wrapped = wrapKey(dataKey, hexToBytes(encKey), {
        context: hexToBytes(prep.body.context),
      });
      const res = await read(
        await postGrant(s, owner, ownerId.did, {
          datasetId,
          granteeDid: granteeId.did,
          wrappedKey: bytesToHex(wrapped),
        }),
      );
      assert.equal(res.status, 201);
      wrappedKeyCid = res.body.wrappedKeyCid;
      await grantDataAccess(owner, {
        addresses,
        datasetId,
        granteeDid: granteeId.didHash,
        encKey,
        wrappedKeyCid,
      });
      const opened = await openDataset(grantee, {
        addresses,
        store,
        datasetId,
        granteeDid: granteeId.didHash,
        encSecretKey: granteeEnc.secretKey,
      });
      assert.deepEqual(opened, plaintext);
    },
  );

  await t.step(
    "attacker: a job owner cannot name a grant's wrapped key as its job's data",
    async () => {
      // Prepare: another account escrows a job whose only shard is the grant's wrapped key (its
      // CID is public on chain). Found in the storage audit: the coordinator kept no uploader for
      // the keys it stored for POST /did/grant, so the job started, the key became private to
      // it, and the grantee's read of its own key was refused.
      const attacker = fx.owner;
      const bytes = await store.get(wrappedKeyCid);
      const { spec, specCid } = await prepareJob(store, {
        model: TINY_MODEL,
        shards: [{ name: "k", train: bytes, val: new Uint8Array(200).fill(97) }],
        rounds: 1,
        localSteps: 1,
        ...TINY_BATCH,
      });
      assert.equal(spec.shards[0]!.cid, wrappedKeyCid);
      const jobId = await escrowSpec(fx, spec, { owner: attacker });

      // Execute
      const res = await read(await s.postAs("/assign", { jobId, specCid }));

      // Assert: refused; the grantee still reads its key.
      assert.equal(res.status, 409, JSON.stringify(res.body));
      assert.equal(res.body.error.code, "DATA_NOT_YOURS");
      const own = gatewayOf(s, grantee, granteeId.did);
      assert.equal((await own.get(wrappedKeyCid, undefined, true)).length, WRAPPED_KEY_BYTES);
    },
  );

  await t.step("access reports the grant and the audit trail; revocation ends access", async () => {
    const res = await read(
      await s.call(`/did/access?dataset=${datasetId}&grantee=${granteeId.did}`),
    );
    assert.equal(res.body.hasAccess, true);
    assert.equal(res.body.grant.wrappedKeyCid, wrappedKeyCid);
    assert.equal(res.body.audit.length, 1);
    await revokeDataAccess(owner, { addresses, datasetId, granteeDid: granteeId.didHash });
    const after = await read(
      await s.call(`/did/access?dataset=${datasetId}&grantee=${granteeId.did}`),
    );
    assert.equal(after.body.hasAccess, false);
  });

  await t.step(
    "bad input: unknown dataset 404, unknown grantee 404, malformed wrapped key 400",
    async () => {
      const unknown = `0x${"77".repeat(32)}`;
      assert.equal(
        (await s.post("/did/grant/prepare", { datasetId: unknown, granteeDid: granteeId.did }))
          .status,
        404,
      );
      assert.equal(
        (await s.post("/did/grant/prepare", {
          datasetId,
          granteeDid: `did:artha:${"12".repeat(32)}`,
        })).status,
        404,
      );
      const short = await read(
        await postGrant(s, owner, ownerId.did, {
          datasetId,
          granteeDid: granteeId.did,
          wrappedKey: "0x00",
        }),
      );
      assert.equal(short.status, 400);
      assert.match(short.body.error.message, /wrappedKey/);
      const wrongVersion = bytesToHex(new Uint8Array(105).fill(9));
      assert.equal(
        (await postGrant(s, owner, ownerId.did, {
          datasetId,
          granteeDid: granteeId.did,
          wrappedKey: wrongVersion,
        })).status,
        400,
      );
    },
  );

  await t.step(
    "attacker: storing a wrapped key takes the dataset owner's signature, nothing is pinned without it",
    async () => {
      // Prepare: a well-formed wrapped key for a real dataset and grantee (all public on chain).
      const wrappedKey = bytesToHex(
        wrapKey(crypto.getRandomValues(new Uint8Array(32)), hexToBytes(granteeEnc.publicKeyHex)),
      );
      const grant = { datasetId, granteeDid: granteeId.did, wrappedKey };
      const pinsBefore = (await store.pins()).length;

      // Execute: unsigned; signed by another DID's controller; a signature over another body.
      const unsigned = await read(await s.post("/did/grant", grant));
      const stranger = await read(await postGrant(s, grantee, granteeId.did, grant));
      const domain = uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry);
      const other = await signUpload(accountUploadSigner(owner), domain, new Uint8Array([1]), {
        path: "/did/grant",
        did: ownerId.did,
        now: s.ctx.now(),
      });
      const swapped = await read(
        await s.call("/did/grant", {
          method: "POST",
          headers: { "content-type": "application/json", ...other },
          body: JSON.stringify(grant),
        }),
      );

      // Assert: 401, 403, 401, and no new pin.
      assert.equal(unsigned.status, 401);
      assert.equal(unsigned.body.error.code, "SIGNATURE_MISSING");
      assert.equal(stranger.status, 403);
      assert.equal(stranger.body.error.code, "NOT_DATASET_OWNER");
      assert.equal(swapped.status, 401);
      assert.equal(swapped.body.error.code, "SIGNATURE_INVALID");
      assert.equal((await store.pins()).length, pinsBefore);
    },
  );
});

/** A DID for `client`'s account, its document in the fixture's store. */
function identity(fx: Coordinator, client: ArthaClient) {
  return registerIdentity(client, {
    addresses: fx.addresses,
    store: fx.store,
    authKey: generateNodeKey(),
    encKey: generateEncKey().publicKeyHex,
  });
}

Deno.test("victim: a dataset published through the gateway outlives the upload lease once granted", async () => {
  // Prepare: an owner and a grantee with DIDs; the owner publishes through the coordinator's
  // gateway as `deno task dataset prepare --gateway` does. Found in the data owner audit: the
  // ciphertext and the wrapped keys went up as plain uploads, only leased (24 h by default), so a
  // day later the chain's dataset named nothing and every grant of it was lost.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const [owner, grantee] = [fx.clients[2]!, fx.clients[3]!];
  const [ownerId, granteeId] = [await identity(fx, owner), await identity(fx, grantee)];
  const gateway = gatewayOf(s, owner, ownerId.did);
  const published = await publishDataset(owner, {
    addresses: fx.addresses,
    upload: (bytes) => gateway.put(bytes),
    storeGrantKey: (grant) => gateway.storeGrantKey(grant),
    ownerDid: ownerId.didHash,
    plaintext: new TextEncoder().encode("patient,age\nA,41\nB,37\n"),
    grantees: [granteeId.didHash],
  });

  // Execute: the lease runs out and the collection runs.
  s.advance(s.ctx.config.uploadLeaseMs + 1);
  await collectSvdbGarbage(s.ctx);

  // Assert: the dataset and the grantee's wrapped key are still there.
  assert.ok(await s.ctx.store.has(published.cid), "the dataset's ciphertext is kept");
  assert.ok(await s.ctx.store.has(published.grants[0]!.wrappedKeyCid), "its grant's key is kept");
});

Deno.test("victim: a DID made through the gateway still resolves there after the upload lease", async () => {
  // Found in the DID audit: `deno task dataset did --gateway` stored the document as a plain
  // upload, only leased; a day later the DID resolved to 404 at that coordinator, and owners
  // granting to it through the coordinator were stopped.
  // Prepare: a DID made as the CLI makes it, its document through the coordinator's gateway,
  // whose chain reader is behind at first (its first resolution: 404 UNKNOWN_DID).
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const owner = fx.clients[2]!;
  const keyDir = await Deno.makeTempDir();
  let lagging = true;
  const behind: CoordinatorFetch = (path, init) => {
    if (!path.startsWith("/did/resolve") || !lagging) return s.call(path, init);
    lagging = false;
    const error = { code: "UNKNOWN_DID", message: "Cannot resolve: not registered" };
    return Promise.resolve(Response.json({ error }, { status: 404 }));
  };
  const { chainId, addresses } = s.ctx.chain;
  const signing = {
    signer: accountUploadSigner(owner),
    domain: uploadDomain(chainId, addresses.registry),
  };
  try {
    const made = await createOwnerDid(owner, {
      addresses: fx.addresses,
      keyDir,
      upload: (bytes, did) =>
        new Gateway(new CoordinatorClient(behind), { ...signing, did, now: () => s.ctx.now() })
          .storeDidDocument(bytes, did, 5),
    });
    assert.equal(lagging, false, "its first resolution was refused, and retried");

    // Execute: the upload's lease runs out and the collection runs.
    s.advance(s.ctx.config.uploadLeaseMs + 1);
    await collectSvdbGarbage(s.ctx);

    // Assert: the DID still resolves to its document.
    const r = await read(await s.call(`/did/resolve?did=${made.did}`));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.didDocumentMetadata.metaCid, made.metaCid);
  } finally {
    await Deno.remove(keyDir, { recursive: true });
  }
});

Deno.test("attacker: a DID document padded with extra bytes is not kept past its lease", async () => {
  // Found reviewing the pin on resolve: a document may carry extra fields up to 64 KiB, and each
  // DID (a transaction) that resolved kept that much of its controller's upload for good.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const owner = fx.clients[2]!;
  const authKey = generateNodeKey();
  const encKey = generateEncKey().publicKeyHex;
  const didHash = didHashFromAuthKey(authKey.publicKeyHex);
  const doc = { ...buildDidDocument({ didHash, authKey: authKey.publicKeyHex, encKey }) };
  const bytes = new TextEncoder().encode(JSON.stringify({ ...doc, padding: "x".repeat(32_000) }));
  const metaCid = (await computeCid(bytes)).toString();
  await createDid(owner, { addresses: fx.addresses, didHash, authKey, encKey, metaCid });
  const did = formatDid(didHash);
  assert.equal(await gatewayOf(s, owner, did).put(bytes), metaCid);

  // Execute: it resolves (as anyone may ask), then its upload's lease ends.
  assert.equal((await read(await s.call(`/did/resolve?did=${did}`))).status, 200);
  s.advance(s.ctx.config.uploadLeaseMs + 1);
  await collectSvdbGarbage(s.ctx);

  // Assert: the padded document went with its lease.
  assert.equal(await s.ctx.store.has(metaCid), false);
});

Deno.test("attacker: a grant that never lands on chain keeps nothing past its lease", async () => {
  // Found in the DID audit: POST /did/grant pinned the dataset (any upload of its owner's) and the
  // wrapped key at once, before any grant transaction; a registered dataset and a made-up wrapped
  // key turned a day's upload lease into storage kept for ever, with no grant ever sent.
  // Prepare: an owner's upload through the gateway, registered as a dataset.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const owner = fx.clients[2]!;
  const [ownerId, granteeId] = [await identity(fx, owner), await identity(fx, fx.clients[3]!)];
  const gateway = gatewayOf(s, owner, ownerId.did);
  const cid = await gateway.put(crypto.getRandomValues(new Uint8Array(64 * 1024)));
  const datasetId = datasetIdOf(ownerId.didHash, cid);
  await registerDataset(owner, {
    addresses: fx.addresses,
    datasetId,
    ownerDid: ownerId.didHash,
    cid,
  });

  // Execute: a made-up wrapped key stored for a grant, and no grant transaction; a day passes.
  const wrappedKey = new Uint8Array(WRAPPED_KEY_BYTES);
  wrappedKey[0] = WRAPPED_KEY_VERSION;
  const stored = await read(
    await postGrant(s, owner, ownerId.did, {
      datasetId,
      granteeDid: granteeId.did,
      wrappedKey: bytesToHex(wrappedKey),
    }),
  );
  assert.equal(stored.status, 201, JSON.stringify(stored.body));
  await collectSvdbGarbage(s.ctx); // within the lease: kept for the grant that may come
  assert.ok(await s.ctx.store.has(cid));
  s.advance(s.ctx.config.uploadLeaseMs + 1);
  await collectSvdbGarbage(s.ctx);

  // Assert: neither the upload nor the key was kept.
  assert.equal(await s.ctx.store.has(cid), false, "the upload went with its lease");
  assert.equal(await s.ctx.store.has(stored.body.wrappedKeyCid), false, "and the key");
});

Deno.test("attacker: another owner storing the same wrapped key for its own dataset does not undo a grant", async () => {
  // Found reviewing pending grants: they were keyed by the wrapped key's CID alone, public once
  // its grant is sent; another owner posting the same bytes for its own dataset replaced the
  // record, the victim's grant was never confirmed, and its dataset went with the lease.
  // Prepare: the victim publishes through the gateway; the attacker has a dataset of its own.
  await using fx = await setupCoordinator({ operators: 3 });
  const s = await fx.scenario();
  const [victim, grantee, attacker] = [fx.clients[2]!, fx.clients[3]!, fx.clients[4]!];
  const [victimId, granteeId, attackerId] = [
    await identity(fx, victim),
    await identity(fx, grantee),
    await identity(fx, attacker),
  ];
  const gateway = gatewayOf(s, victim, victimId.did);
  const published = await publishDataset(victim, {
    addresses: fx.addresses,
    upload: (bytes) => gateway.put(bytes),
    storeGrantKey: (grant) => gateway.storeGrantKey(grant),
    ownerDid: victimId.didHash,
    plaintext: new TextEncoder().encode("patient,age\nA,41\nB,37\n"),
    grantees: [granteeId.didHash],
  });
  const own = await gatewayOf(s, attacker, attackerId.did).put(new Uint8Array(4096).fill(7));
  const ownId = datasetIdOf(attackerId.didHash, own);
  await registerDataset(attacker, {
    addresses: fx.addresses,
    datasetId: ownId,
    ownerDid: attackerId.didHash,
    cid: own,
  });

  // Execute: the victim's wrapped key, read and stored again for the attacker's dataset.
  const key = await fx.store.get(published.grants[0]!.wrappedKeyCid);
  const stored = await read(
    await postGrant(s, attacker, attackerId.did, {
      datasetId: ownId,
      granteeDid: granteeId.did,
      wrappedKey: bytesToHex(key),
    }),
  );
  assert.equal(stored.status, 201, JSON.stringify(stored.body));
  assert.equal(stored.body.wrappedKeyCid, published.grants[0]!.wrappedKeyCid);
  s.advance(s.ctx.config.uploadLeaseMs + 1);
  await collectSvdbGarbage(s.ctx);

  // Assert: the victim's dataset and key are kept; the attacker's ungranted upload is not.
  assert.ok(await s.ctx.store.has(published.cid), "the victim's dataset is kept");
  assert.ok(await s.ctx.store.has(published.grants[0]!.wrappedKeyCid), "and its key");
  assert.equal(await s.ctx.store.has(own), false, "the attacker's, never granted, is not");
});

Deno.test("bad input: a /did route asked with the wrong method is a 405 naming the routes, not a field error", async () => {
  // Found in the privacy audit: POST /did/resolve (or /did/access) read a body and answered 400
  // "Invalid field datasetId", about a field that route never takes.
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario();
  const cases: [string, string, number][] = [
    ["POST", "/did/resolve", 405],
    ["POST", "/did/access", 405],
    ["GET", "/did/grant", 405],
    ["PUT", "/did/grant/prepare", 405],
    ["POST", "/did/nothing", 404],
  ];
  for (const [method, path, status] of cases) {
    const body = method === "GET" ? undefined : "{}";
    const headers = { "content-type": "application/json" };
    const res = await read(await s.call(path, { method, body, headers }));
    assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(res.body)}`);
    if (status === 405) {
      assert.match(res.body.error.message, /the \/did routes are GET \/did\/resolve/);
    }
  }
});
