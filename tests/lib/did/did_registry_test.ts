import assert from "node:assert/strict";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../../../lib/chain/client.ts";
import { ChainCallError } from "../../../lib/chain/send_contract.ts";
import {
  arthaDIDRegistryAbi,
  arthaDIDRegistryBytecode,
} from "../../../lib/abi/ArthaDIDRegistry.ts";
import { generateNodeKey, type NodeKey } from "../../../lib/crypto/keys.ts";
import { type EncKey, generateEncKey } from "../../../lib/crypto/enc_key.ts";
import { DecryptionError } from "../../../lib/crypto/aead.ts";
import { unwrapKey } from "../../../lib/crypto/key_wrap.ts";
import { decryptDataset } from "../../../lib/crypto/dataset_cipher.ts";
import { digestHex, type Hex } from "../../../lib/crypto/digest.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";
import { Store } from "../../../lib/store/store.ts";
import { formatDid } from "../../../lib/did/did.ts";
import {
  buildDidDocument,
  DidDocumentError,
  publishDidDocument,
} from "../../../lib/did/did_document.ts";
import {
  DidNotFoundError,
  registerIdentity,
  resolveDid,
  rotateIdentityKeys,
} from "../../../lib/did/resolve.ts";
import {
  createDid,
  getDid,
  revokeDid,
  rotateKeys,
  updateMetadata,
} from "../../../lib/did/registry.ts";
import {
  getDataset,
  getGrant,
  hasAccess,
  hasConsent,
  recordConsent,
  revokeDataAccess,
} from "../../../lib/did/data_access.ts";
import {
  AccessDeniedError,
  grantAccess,
  grantContext,
  openDataset,
  rotateDataKey,
  shareDataset,
} from "../../../lib/did/dataset_share.ts";

interface Party {
  client: ArthaClient;
  didHash: Hex;
  enc: EncKey;
  auth: NodeKey;
}

Deno.test("ArthaDIDRegistry on anvil: resolve, share, grant, revoke, rotate, consent", async (t) => {
  // Prepare: a fresh devnet with the DID registry, three parties with DIDs
  await using net = await startDevnet({ accounts: 3 });
  const clients = net.accounts.map((account) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account })
  );
  const deployer = clients[0]!;
  const hash = await deployer.deployContract({
    abi: arthaDIDRegistryAbi,
    bytecode: arthaDIDRegistryBytecode,
    args: [],
  });
  const addresses = {
    dids: (await deployer.waitForTransactionReceipt({ hash })).contractAddress!,
  };
  const store = new Store(new MemoryBlockstore());
  const parties: Party[] = [];
  for (const client of clients) {
    const auth = generateNodeKey();
    const enc = generateEncKey();
    const { didHash } = await registerIdentity(client, {
      addresses,
      store,
      authKey: auth,
      encKey: enc.publicKeyHex,
    });
    parties.push({ client, didHash, enc, auth });
  }
  const [owner, grantee, stranger] = parties as [Party, Party, Party];
  const plaintext = new TextEncoder().encode("age,zip\n34,94110\n29,10001\n");

  await t.step("resolveDid returns the document whose keys are on chain", async () => {
    const res = await resolveDid(owner.client, {
      addresses,
      store,
      did: formatDid(grantee.didHash),
    });
    assert.equal(res.didDocument.id, formatDid(grantee.didHash));
    assert.equal(res.onChain.encKey, grantee.enc.publicKeyHex);
    assert.equal(res.didDocumentMetadata.deactivated, false);
    // DID Core dateTime: whole seconds, UTC, no fraction.
    assert.match(res.didDocumentMetadata.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(res.didResolutionMetadata.contentType, "application/did+ld+json");
    await assert.rejects(
      resolveDid(owner.client, { addresses, store, did: formatDid(`0x${"ab".repeat(32)}`) }),
      DidNotFoundError,
    );
    await assert.rejects(
      createDid(stranger.client, {
        addresses,
        didHash: grantee.didHash,
        authKey: generateNodeKey(),
        encKey: grantee.didHash,
        metaCid: "x",
      }),
      (e) => e instanceof ChainCallError && e.errorName === "DID__AlreadyExists",
    );
  });

  const shared = await shareDataset(owner.client, {
    addresses,
    store,
    ownerDid: owner.didHash,
    plaintext,
  });

  await t.step("a grantee decrypts, and the access is recorded on chain", async () => {
    await grantAccess(owner.client, { addresses, store, ...shared, granteeDid: grantee.didHash });
    const opened = await openDataset(grantee.client, {
      addresses,
      store,
      datasetId: shared.datasetId,
      granteeDid: grantee.didHash,
      encSecretKey: grantee.enc.secretKey,
      purpose: "job-1",
    });
    assert.deepEqual(opened, plaintext);
    const events = await grantee.client.getContractEvents({
      address: addresses.dids,
      abi: arthaDIDRegistryAbi,
      eventName: "DataAccessed",
      fromBlock: 0n,
    });
    assert.equal(events.length, 1);
    assert.equal(events[0]!.args.granteeDid, grantee.didHash);
    assert.equal(events[0]!.args.purposeHash, digestHex(new TextEncoder().encode("job-1")));
  });

  await t.step("a never-granted DID is refused, and cannot unwrap another's key", async () => {
    await assert.rejects(
      openDataset(stranger.client, {
        addresses,
        store,
        datasetId: shared.datasetId,
        granteeDid: stranger.didHash,
        encSecretKey: stranger.enc.secretKey,
      }),
      (e) => e instanceof AccessDeniedError && e.code === "ACCESS_DENIED",
    );
    const grant = await getGrant(owner.client, {
      addresses,
      datasetId: shared.datasetId,
      granteeDid: grantee.didHash,
    });
    const wrapped = await store.get(grant.wrappedKeyCid);
    assert.throws(
      () =>
        unwrapKey(wrapped, stranger.enc.secretKey, {
          context: grantContext(shared.datasetId, grantee.didHash),
        }),
      DecryptionError,
    );
  });

  await t.step("a revoked grant is refused", async () => {
    await revokeDataAccess(owner.client, {
      addresses,
      datasetId: shared.datasetId,
      granteeDid: grantee.didHash,
    });
    await assert.rejects(
      openDataset(grantee.client, {
        addresses,
        store,
        datasetId: shared.datasetId,
        granteeDid: grantee.didHash,
        encSecretKey: grantee.enc.secretKey,
      }),
      AccessDeniedError,
    );
  });

  await t.step("after key rotation the old wrapped key is useless until re-granted", async () => {
    const old = grantee.enc;
    const next = generateEncKey();
    const nextAuth = generateNodeKey();
    await grantAccess(owner.client, { addresses, store, ...shared, granteeDid: grantee.didHash });
    const sent = () =>
      grantee.client.getTransactionCount({ address: grantee.client.account.address });
    const before = await sent();
    await rotateIdentityKeys(grantee.client, {
      addresses,
      store,
      didHash: grantee.didHash,
      authKey: nextAuth,
      encKey: next.publicKeyHex,
    });
    // One transaction: there is no block at which the keys and the document disagree.
    assert.equal(await sent(), before + 1);
    const res = await resolveDid(owner.client, {
      addresses,
      store,
      did: formatDid(grantee.didHash),
    });
    assert.equal(res.onChain.encKey, next.publicKeyHex);
    assert.deepEqual(res.didDocument.keyAgreement, [`${formatDid(grantee.didHash)}#enc-2`]);
    const params = {
      addresses,
      store,
      datasetId: shared.datasetId,
      granteeDid: grantee.didHash,
      record: false,
    };
    // The grant was bound to the keys it was wrapped for: it ended with them (the old key may be
    // the one that was lost), and the new key could not unwrap it anyway.
    for (const key of [next, old]) {
      await assert.rejects(
        openDataset(grantee.client, { ...params, encSecretKey: key.secretKey }),
        AccessDeniedError,
      );
    }
    await grantAccess(owner.client, { addresses, store, ...shared, granteeDid: grantee.didHash });
    assert.deepEqual(
      await openDataset(grantee.client, { ...params, encSecretKey: next.secretKey }),
      plaintext,
    );
    grantee.enc = next; // later steps act with the grantee's current key
  });

  await t.step("consent is recorded and withdrawn", async () => {
    const purposeHash = digestHex(new TextEncoder().encode("train:job-1"));
    const args = { addresses, subjectDid: owner.didHash, purposeHash };
    assert.equal(await hasConsent(owner.client, args), false);
    await recordConsent(owner.client, { ...args, given: true });
    assert.equal(await hasConsent(owner.client, args), true);
    await recordConsent(owner.client, { ...args, given: false });
    assert.equal(await hasConsent(owner.client, args), false);
    await assert.rejects(
      recordConsent(stranger.client, { ...args, given: true }),
      (e) => e instanceof ChainCallError && e.errorName === "DID__NotController",
    );
  });

  await t.step("a document that disagrees with the chain does not resolve", async () => {
    const fake = buildDidDocument({
      didHash: stranger.didHash,
      authKey: generateNodeKey().publicKeyHex,
      encKey: generateEncKey().publicKeyHex,
    });
    const metaCid = (await publishDidDocument(store, fake)).toString();
    await updateMetadata(stranger.client, { addresses, didHash: stranger.didHash, metaCid });
    await assert.rejects(
      resolveDid(owner.client, { addresses, store, did: formatDid(stranger.didHash) }),
      DidDocumentError,
    );
  });

  await t.step(
    "hard revocation: after rotateDataKey the revoked DID's old key opens nothing new",
    async () => {
      // Prepare: a dataset both other parties may read.
      const v1 = new TextEncoder().encode("age,zip\n34,94110\n");
      const ds = await shareDataset(owner.client, {
        addresses,
        store,
        ownerDid: owner.didHash,
        plaintext: v1,
      });
      for (const p of [grantee, stranger]) {
        await grantAccess(owner.client, {
          addresses,
          store,
          datasetId: ds.datasetId,
          dataKey: ds.dataKey,
          granteeDid: p.didHash,
        });
      }
      const strangerGrant = await getGrant(owner.client, {
        addresses,
        datasetId: ds.datasetId,
        granteeDid: stranger.didHash,
      });
      const keptKey = unwrapKey(
        await store.get(strangerGrant.wrappedKeyCid),
        stranger.enc.secretKey,
        {
          context: grantContext(ds.datasetId, stranger.didHash),
        },
      );
      // Execute: re-encrypt the next version, keeping only the grantee.
      const v2 = new TextEncoder().encode("age,zip\n35,94110\n");
      const rotated = await rotateDataKey(owner.client, {
        addresses,
        store,
        datasetId: ds.datasetId,
        plaintext: v2,
        keep: [grantee.didHash],
      });
      // Assert: the kept grantee reads v2; the stranger's grant ended, and the data key it kept
      // cannot decrypt the new ciphertext.
      const open = (p: Party) =>
        openDataset(p.client, {
          addresses,
          store,
          datasetId: ds.datasetId,
          granteeDid: p.didHash,
          encSecretKey: p.enc.secretKey,
        });
      assert.deepEqual(await open(grantee), v2);
      await assert.rejects(open(stranger), AccessDeniedError);
      const ciphertext = await store.get(rotated.cid);
      assert.throws(() => decryptDataset(ciphertext, keptKey));
    },
  );

  await t.step(
    "attacker: a kept grantee with a key that takes no wrapped key cannot leave a rotation half done",
    async () => {
      // Prepare: a dataset both others may read; the stranger then sets a low-order key. Found in
      // the DID audit: rotateDataKey rotated on chain (ending every grant), then failed wrapping
      // for the stranger before re-granting the rest, and the new data key was lost.
      const ds = await shareDataset(owner.client, {
        addresses,
        store,
        ownerDid: owner.didHash,
        plaintext,
      });
      for (const p of [stranger, grantee]) {
        const { dataKey, datasetId } = ds;
        await grantAccess(owner.client, {
          addresses,
          store,
          datasetId,
          dataKey,
          granteeDid: p.didHash,
        });
      }
      const lowOrder = `0x01${"00".repeat(31)}` as Hex;
      await rotateKeys(stranger.client, {
        addresses,
        didHash: stranger.didHash,
        authKey: stranger.auth,
        encKey: lowOrder,
        metaCid: "x",
      });
      const before = await getDataset(owner.client, { addresses, datasetId: ds.datasetId });

      // Execute
      const rotation = rotateDataKey(owner.client, {
        addresses,
        store,
        datasetId: ds.datasetId,
        plaintext,
        keep: [stranger.didHash, grantee.didHash],
      });

      // Assert: refused naming the stranger, with nothing rotated: the grantee still reads.
      await assert.rejects(rotation, new RegExp(`${formatDid(stranger.didHash)}'s key takes no`));
      const after = await getDataset(owner.client, { addresses, datasetId: ds.datasetId });
      assert.equal(after.keyVersion, before.keyVersion);
      const read = await openDataset(grantee.client, {
        addresses,
        store,
        datasetId: ds.datasetId,
        granteeDid: grantee.didHash,
        encSecretKey: grantee.enc.secretKey,
        record: false,
      });
      assert.deepEqual(read, plaintext);
    },
  );

  await t.step(
    "attacker: a grant wrapped to a key the grantee has since rotated away does not land",
    async () => {
      // Prepare: a thief holds the grantee's current X25519 secret. Found in the DID audit: the
      // chain stamped the grantee's key nonce when the grant landed, not the key the owner had
      // wrapped to, so a grantee rotating its stolen key while the owner's grant was in flight
      // got a grant that the chain called valid for its new key and that the thief opened.
      const ds = await shareDataset(owner.client, {
        addresses,
        store,
        ownerDid: owner.didHash,
        plaintext,
      });
      const stolen = grantee.enc;
      const next = generateEncKey();
      class RotatingStore extends Store {
        override async put(...args: Parameters<Store["put"]>) {
          const cid = await super.put(...args);
          // The grantee's rotation lands between the owner's wrap and its grant.
          await rotateIdentityKeys(grantee.client, {
            addresses,
            store,
            didHash: grantee.didHash,
            authKey: generateNodeKey(),
            encKey: next.publicKeyHex,
            keyVersion: 3,
          });
          return cid;
        }
      }
      const racing = new RotatingStore(store.blockstore);
      const at = { addresses, datasetId: ds.datasetId, granteeDid: grantee.didHash };

      // Execute
      const granting = grantAccess(owner.client, { ...at, store: racing, dataKey: ds.dataKey });

      // Assert: the grant is refused for the key it was wrapped to, and the thief holds nothing.
      await assert.rejects(
        granting,
        (e) => e instanceof ChainCallError && e.errorName === "DID__KeyChanged",
      );
      grantee.enc = next;
      assert.equal(await hasAccess(owner.client, at), false);
      await assert.rejects(
        openDataset(grantee.client, { ...at, store, encSecretKey: stolen.secretKey }),
        AccessDeniedError,
      );
      // A grant wrapped to the key now on chain lands and opens with it.
      await grantAccess(owner.client, { ...at, store, dataKey: ds.dataKey });
      const read = await openDataset(grantee.client, {
        ...at,
        store,
        encSecretKey: next.secretKey,
        record: false,
      });
      assert.deepEqual(read, plaintext);
    },
  );

  await t.step("a revoked DID loses its grants and is shown deactivated", async () => {
    await revokeDid(grantee.client, { addresses, didHash: grantee.didHash });
    const args = { addresses, datasetId: shared.datasetId, granteeDid: grantee.didHash };
    assert.equal(await hasAccess(owner.client, args), false);
    assert.equal(
      (await getDid(owner.client, { addresses, didHash: grantee.didHash }))!.revoked,
      true,
    );
    const res = await resolveDid(owner.client, {
      addresses,
      store,
      did: formatDid(grantee.didHash),
    });
    assert.equal(res.didDocumentMetadata.deactivated, true);
    await assert.rejects(
      grantAccess(owner.client, { addresses, store, ...shared, granteeDid: grantee.didHash }),
      (e) => e instanceof ChainCallError && e.errorName === "DID__Revoked",
    );
  });
});
