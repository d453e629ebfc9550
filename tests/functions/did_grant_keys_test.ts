/**
 * A grant's wrapped data key, stored through POST /did/grant, from the side of a grantee whose
 * grant has ended and of strangers (lib/coordinator/grant_keys.ts; found in the DID audit: GET
 * /svdb served it to anyone, so revocation and expiry stopped nobody who had not read it yet).
 */
import assert from "node:assert/strict";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { generateEncKey } from "../../lib/crypto/enc_key.ts";
import { registerIdentity } from "../../lib/did/resolve.ts";
import { grantDataAccess, revokeDataAccess } from "../../lib/did/data_access.ts";
import { getDid } from "../../lib/did/registry.ts";
import { WRAPPED_KEY_BYTES } from "../../lib/coordinator/data_grants.ts";
import { WRAPPED_KEY_VERSION } from "../../lib/crypto/key_wrap.ts";
import { openDataset } from "../../lib/did/dataset_share.ts";
import { publishDataset } from "../../lib/dataset/publish.ts";
import { accountUploadSigner, uploadDomain } from "../../lib/store/upload_signature.ts";
import type { ArthaClient } from "../../lib/chain/client.ts";
import { Gateway } from "../../lib/worker/gateway.ts";
import { CoordinatorClient, CoordinatorError } from "../../lib/worker/client.ts";
import { gatewayOf } from "./_did_gateway.ts";
import { type Coordinator, read, type Scenario, setupCoordinator } from "./_coordinator.ts";

const PLAINTEXT = new TextEncoder().encode("patient,age\nA,41\nB,37\n");

/** A DID of `client`'s account, and its X25519 secret (what unwraps keys granted to it). */
async function identity(fx: Coordinator, client: ArthaClient) {
  const enc = generateEncKey();
  const made = await registerIdentity(client, {
    addresses: fx.addresses,
    store: fx.store,
    authKey: generateNodeKey(),
    encKey: enc.publicKeyHex,
  });
  return { ...made, encSecretKey: enc.secretKey };
}

/** An owner publishing through the gateway to one grantee, as `dataset prepare --gateway` does. */
async function published(fx: Coordinator, s: Scenario, expiresAt?: bigint) {
  const [owner, grantee, stranger] = [fx.clients[2]!, fx.clients[3]!, fx.clients[1]!];
  const [ownerId, granteeId] = [await identity(fx, owner), await identity(fx, grantee)];
  const strangerId = await identity(fx, stranger);
  const gateway = gatewayOf(s, owner, ownerId.did);
  const made = await publishDataset(owner, {
    addresses: fx.addresses,
    upload: (bytes) => gateway.put(bytes),
    storeGrantKey: (grant) => gateway.storeGrantKey(grant),
    ownerDid: ownerId.didHash,
    plaintext: PLAINTEXT,
    grantees: [granteeId.didHash],
    ...(expiresAt === undefined ? {} : { expiresAt }),
  });
  const keyCid = made.grants[0]!.wrappedKeyCid;
  const signedRead = (client: ArthaClient, did: string) =>
    gatewayOf(s, client, did).get(keyCid, undefined, true);
  return { ...made, owner, grantee, granteeId, ownerId, stranger, strangerId, keyCid, signedRead };
}

/** The HTTP status a read failed with. */
async function statusOf(read: Promise<unknown>): Promise<number> {
  try {
    await read;
    return 200;
  } catch (e) {
    if (e instanceof CoordinatorError) return e.status;
    throw e;
  }
}

Deno.test("attacker: a revoked grantee that never read its wrapped key cannot read it now", async () => {
  // Prepare: the owner grants, then revokes before the grantee ever read its key.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const p = await published(fx, s);
  const { datasetId } = p;
  await revokeDataAccess(p.owner, {
    addresses: fx.addresses,
    datasetId,
    granteeDid: p.granteeId.didHash,
  });

  // Execute + Assert: unsigned 401, the revoked grantee 403 GRANT_ENDED, a stranger 403.
  const unsigned = await read(await s.call(`/svdb/${p.keyCid}`));
  assert.equal(unsigned.status, 401, JSON.stringify(unsigned.body));
  const revoked = await read(
    await s.call(`/svdb/${p.keyCid}`, await signedInit(s, p.grantee, p.granteeId.did, p.keyCid)),
  );
  assert.equal(revoked.status, 403);
  assert.equal(revoked.body.error.code, "GRANT_ENDED");
  assert.equal(await statusOf(p.signedRead(p.stranger, p.strangerId.did)), 403);
  // The owner still reads what it stored.
  assert.equal(await statusOf(p.signedRead(p.owner, p.ownerId.did)), 200);
});

Deno.test("attacker: a grantee whose grant expired cannot read the key it never read", async () => {
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const now = (await fx.clients[2]!.getBlock()).timestamp;
  const p = await published(fx, s, now + 600n);
  await p.owner.request({ method: "evm_increaseTime" as never, params: [3600] as never });
  await p.owner.request({ method: "evm_mine" as never, params: [] as never });
  assert.equal(await statusOf(p.signedRead(p.grantee, p.granteeId.did)), 403);
});

Deno.test("attacker: a grant past its expiry on a quiet chain does not hand out its key", async () => {
  // Found in the DID audit: the chain's latest block keeps the time it was mined at, so with no
  // transaction since, hasAccess still held a grant whose expiry had passed by the clock.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const now = (await fx.clients[2]!.getBlock()).timestamp;
  const p = await published(fx, s, now + 600n);
  assert.equal(await statusOf(p.signedRead(p.grantee, p.granteeId.did)), 200, "while it stands");
  s.advance(3_600_000); // an hour by the coordinator's clock; no block mined meanwhile
  assert.equal(await statusOf(p.signedRead(p.grantee, p.granteeId.did)), 403);
  // The owner's view says so too (the review found /did/access still showed it standing).
  const access = await read(
    await s.call(`/did/access?dataset=${p.datasetId}&grantee=${p.granteeId.did}`),
  );
  assert.equal(access.body.hasAccess, false);
});

Deno.test("victim: a grantee opens the dataset through the gateway; the owner sees its reads", async () => {
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const p = await published(fx, s);
  const gateway = gatewayOf(s, p.grantee, p.granteeId.did);
  const opened = await openDataset(p.grantee, {
    addresses: fx.addresses,
    store: { get: (cid) => gateway.get(cid, undefined, true) },
    datasetId: p.datasetId,
    granteeDid: p.granteeId.didHash,
    encSecretKey: p.granteeId.encSecretKey,
  });
  assert.deepEqual(opened, PLAINTEXT);
  const access = await read(
    await s.call(`/did/access?dataset=${p.datasetId}&grantee=${p.granteeId.did}`),
  );
  assert.equal(access.body.keyReads.length, 1);
  assert.equal(access.body.keyReads[0].reader, p.grantee.account.address.toLowerCase());
  assert.equal(access.body.keyReads[0].count, 1);
  assert.equal(access.body.audit.length, 1, "openDataset also recorded its access on chain");
});

/** The headers of a GET of `/svdb/<cid>` signed by `client` (as Gateway signs its reads). */
async function signedInit(s: Scenario, client: ArthaClient, did: string, cid: string) {
  let init: RequestInit | undefined;
  const capture = new Gateway(
    new CoordinatorClient((_path, i) => {
      init = i;
      return Promise.resolve(new Response("", { status: 404 }));
    }),
    {
      signer: accountUploadSigner(client),
      domain: uploadDomain(s.ctx.chain.chainId, s.ctx.chain.addresses.registry),
      did,
      now: () => s.ctx.now(),
    },
  );
  await capture.get(cid, undefined, true).catch(() => {});
  return init as RequestInit & { headers: Record<string, string> };
}

Deno.test("attacker: a grantee granted another key cannot read the one its grant named before", async () => {
  // Found reviewing the gate: the pair's grant was checked, not the key asked for, so a grantee
  // revoked and granted again (after a rotation, say) read its old key, never read, which opens
  // the old ciphertext.
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();
  const p = await published(fx, s);
  const gateway = gatewayOf(s, p.owner, p.ownerId.did);
  const again = new Uint8Array(WRAPPED_KEY_BYTES).fill(7);
  again[0] = WRAPPED_KEY_VERSION;
  const granteeDid = p.granteeId.didHash;
  const newer = await gateway.storeGrantKey({
    datasetId: p.datasetId,
    granteeDid,
    wrappedKey: again,
  });
  const { encKey } = (await getDid(p.owner, { addresses: fx.addresses, didHash: granteeDid }))!;
  await grantDataAccess(p.owner, {
    addresses: fx.addresses,
    datasetId: p.datasetId,
    granteeDid,
    encKey,
    wrappedKeyCid: newer,
  });

  assert.equal(await statusOf(p.signedRead(p.grantee, p.granteeId.did)), 403);
  const read = await gatewayOf(s, p.grantee, p.granteeId.did).get(newer, undefined, true);
  assert.deepEqual(read, again);
});
