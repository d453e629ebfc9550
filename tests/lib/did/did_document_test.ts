import assert from "node:assert/strict";
import { didHashFromAuthKey, formatDid, InvalidDidError, parseDid } from "../../../lib/did/did.ts";
import {
  buildDidDocument,
  DidDocumentError,
  documentKeys,
  loadDidDocument,
  publishDidDocument,
} from "../../../lib/did/did_document.ts";
import { generateNodeKey } from "../../../lib/crypto/keys.ts";
import { generateEncKey } from "../../../lib/crypto/enc_key.ts";
import { digestHex } from "../../../lib/crypto/digest.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";
import { Store } from "../../../lib/store/store.ts";

Deno.test("did:artha identifiers: keccak256 of the auth key, formatted and parsed", () => {
  // Prepare
  const key = generateNodeKey();
  // Execute
  const hash = didHashFromAuthKey(key.publicKey);
  const did = formatDid(hash);
  // Assert
  assert.equal(hash, digestHex(key.publicKey));
  assert.equal(did, `did:artha:${hash.slice(2)}`);
  assert.equal(parseDid(did), hash);
  assert.equal(parseDid(`${did}#auth-1`), hash);
  assert.equal(parseDid(did.toUpperCase().replace("DID:ARTHA:", "did:artha:")), hash);
  for (const bad of ["did:artha:1234", "did:key:z6Mk", `did:artha:0x${hash.slice(2)}`, ""]) {
    assert.throws(
      () => parseDid(bad),
      (e) => e instanceof InvalidDidError && e.code === "DID_INVALID",
    );
  }
});

Deno.test("buildDidDocument is W3C-shaped with Multikey Ed25519 auth and X25519 agreement", () => {
  // Prepare
  const auth = generateNodeKey();
  const enc = generateEncKey();
  const didHash = didHashFromAuthKey(auth.publicKey);
  // Execute
  const doc = buildDidDocument({
    didHash,
    authKey: auth.publicKeyHex,
    encKey: enc.publicKeyHex,
    services: [{ id: "svdb", type: "ArthaSVDB", serviceEndpoint: "artha://" }],
  });
  // Assert
  const did = formatDid(didHash);
  assert.equal(doc["@context"][0], "https://www.w3.org/ns/did/v1");
  assert.equal(doc.id, did);
  assert.deepEqual(doc.authentication, [`${did}#auth-1`]);
  assert.deepEqual(doc.assertionMethod, [`${did}#auth-1`]);
  assert.deepEqual(doc.keyAgreement, [`${did}#enc-1`]);
  assert.match(doc.verificationMethod[0]!.publicKeyMultibase, /^z6Mk/);
  assert.match(doc.verificationMethod[1]!.publicKeyMultibase, /^z6LS/);
  assert.equal(doc.verificationMethod[0]!.type, "Multikey");
  assert.equal(doc.service![0]!.id, `${did}#svdb`);
  assert.deepEqual(documentKeys(doc), {
    didHash,
    authKey: auth.publicKeyHex,
    encKey: enc.publicKeyHex,
  });
});

Deno.test("DID documents round-trip through the SVDB with a stable CID", async () => {
  // Prepare
  const store = new Store(new MemoryBlockstore());
  const auth = generateNodeKey();
  const params = {
    didHash: didHashFromAuthKey(auth.publicKey),
    authKey: auth.publicKeyHex,
    encKey: generateEncKey().publicKeyHex,
  };
  // Execute
  const cid1 = await publishDidDocument(store, buildDidDocument(params));
  const cid2 = await publishDidDocument(store, buildDidDocument(params));
  const loaded = await loadDidDocument(store, cid1);
  const junk = await store.put(
    new TextEncoder().encode('{"id":"did:artha:' + "0".repeat(64) + '"}'),
  );
  // Assert
  assert.ok(cid1.equals(cid2));
  assert.deepEqual(loaded, buildDidDocument(params));
  await assert.rejects(loadDidDocument(store, junk), DidDocumentError);
});
