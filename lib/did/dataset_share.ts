/**
 * Sharing an encrypted dataset with DIDs: the owner encrypts client-side with a fresh
 * data key, stores the ciphertext in the SVDB and registers it; each grant stores the data
 * key wrapped to the grantee's on-chain X25519 key and records the grant on chain; a
 * grantee checks its grant, unwraps, decrypts, and (by default) records the access for the
 * audit trail.
 *
 * What revocation means: the registry (and every client using {@link openDataset}) refuses
 * a revoked, expired or never-granted DID, and a coordinator serves a wrapped key stored through
 * its POST /did/grant only to its grantee's controller while the grant stands
 * (lib/coordinator/grant_keys.ts). That alone is not cryptographic: a grantee that read its key
 * while it could (or kept the unwrapped data key) can still decrypt the ciphertext it already
 * could, and a wrapped key stored in any other store is as public as that store. Hard
 * revocation is {@link rotateDataKey}: the owner
 * re-encrypts under a fresh data key, the chain bumps the dataset's key version (ending every
 * old grant), and only the remaining DIDs are re-granted; the revoked one's key opens nothing
 * of the new version.
 *
 * @module
 */
import { concatBytes, digestHex, type Hex, hexToBytes } from "../crypto/digest.ts";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import type { Store } from "../store/store.ts";
import { randomKey } from "../crypto/aead.ts";
import { decryptDataset, encryptDataset } from "../crypto/dataset_cipher.ts";
import { unwrapKey, wrapKey } from "../crypto/key_wrap.ts";
import {
  getDataset,
  getGrant,
  grantDataAccess,
  hasAccess,
  recordAccess,
  registerDataset,
  rotateDataset,
} from "./data_access.ts";
import { getDid } from "./registry.ts";
import { formatDid } from "./did.ts";

type Addresses = Pick<ArthaAddresses, "dids">;

/** Thrown when a DID has no valid grant on a dataset (never granted, revoked, expired). */
export class AccessDeniedError extends Error {
  /** Stable error code. */
  readonly code = "ACCESS_DENIED";
  /** @param datasetId dataset @param granteeDid grantee */
  constructor(datasetId: Hex, granteeDid: Hex) {
    super(`Cannot open dataset ${datasetId}: ${formatDid(granteeDid)} has no valid grant`);
    this.name = "AccessDeniedError";
  }
}

/**
 * The context a wrapped key is bound to: `datasetId ++ granteeDid`, so it cannot be reused
 * for another dataset or grantee.
 */
export function grantContext(datasetId: Hex, granteeDid: Hex): Uint8Array {
  return concatBytes(hexToBytes(datasetId), hexToBytes(granteeDid));
}

/**
 * The id a dataset is registered under: keccak256(ownerDid ++ its CID's text), so an owner's
 * dataset has one id and nobody else can register it under theirs.
 *
 * @example
 * ```ts
 * import { datasetIdOf } from "./dataset_share.ts";
 * const did = `0x${"ab".repeat(32)}` as const;
 * console.assert(datasetIdOf(did, "bafkrei") === datasetIdOf(did, "bafkrei"));
 * ```
 */
export function datasetIdOf(ownerDid: Hex, cid: string): Hex {
  return digestHex(concatBytes(hexToBytes(ownerDid), new TextEncoder().encode(cid)));
}

/**
 * Encrypts `plaintext` with a fresh data key, stores the ciphertext and registers the
 * dataset under `ownerDid` (controlled by the client's account). Keep `dataKey` secret: it
 * is needed to grant access.
 *
 * @example
 * ```ts ignore
 * const { datasetId, dataKey } = await shareDataset(owner, { addresses, store, ownerDid, plaintext });
 * ```
 */
export async function shareDataset(
  client: ArthaClient,
  params: { addresses: Addresses; store: Store; ownerDid: Hex; plaintext: Uint8Array },
): Promise<{ datasetId: Hex; cid: string; dataKey: Uint8Array }> {
  const dataKey = randomKey();
  const cid = (await params.store.put(encryptDataset(params.plaintext, dataKey))).toString();
  const datasetId = datasetIdOf(params.ownerDid, cid);
  await registerDataset(client, {
    addresses: params.addresses,
    datasetId,
    ownerDid: params.ownerDid,
    cid,
  });
  return { datasetId, cid, dataKey };
}

/**
 * Grants `granteeDid` access: wraps the data key to the grantee's current on-chain
 * `encKey`, stores it, and records the grant.
 *
 * @example
 * ```ts ignore
 * await grantAccess(owner, { addresses, store, datasetId, dataKey, granteeDid });
 * ```
 */
export async function grantAccess(
  client: ArthaClient,
  params: WrapFor & {
    /** Unix seconds; omitted = no expiry. */
    expiresAt?: bigint;
  },
): Promise<{ wrappedKeyCid: string }> {
  const { addresses, datasetId, granteeDid } = params;
  const { wrappedKeyCid, encKey } = await storeWrappedKey(client, params);
  await grantDataAccess(client, {
    addresses,
    datasetId,
    granteeDid,
    encKey,
    wrappedKeyCid,
    expiresAt: params.expiresAt,
  });
  return { wrappedKeyCid };
}

/** The dataset's data key, and the grantee to wrap it for. */
interface WrapFor {
  addresses: Addresses;
  store: Store;
  datasetId: Hex;
  dataKey: Uint8Array;
  granteeDid: Hex;
}

/**
 * The data key wrapped to `granteeDid`'s key on chain, stored; its CID and the key it was
 * wrapped to (the grant names it, so the chain refuses it if the grantee rotates meanwhile).
 *
 * @throws {TypeError} when the grantee is not registered, its key takes no wrapped key (a
 * low-order point), or, with `live`, it is revoked (the chain then refuses its grant)
 */
async function storeWrappedKey(
  client: ArthaClient,
  params: WrapFor & { live?: boolean },
): Promise<{ wrappedKeyCid: string; encKey: Hex }> {
  const { addresses, store, datasetId, granteeDid } = params;
  const did = formatDid(granteeDid);
  const grantee = await getDid(client, { addresses, didHash: granteeDid });
  if (!grantee) throw new TypeError(`Cannot grant access: ${did} is not registered`);
  if (params.live && grantee.revoked) throw new TypeError(`Cannot grant access: ${did} is revoked`);
  let wrapped: Uint8Array;
  try {
    wrapped = wrapKey(params.dataKey, hexToBytes(grantee.encKey), {
      context: grantContext(datasetId, granteeDid),
    });
  } catch (e) {
    throw new TypeError(`Cannot grant access: ${did}'s key takes no wrapped key`, { cause: e });
  }
  return { wrappedKeyCid: (await store.put(wrapped)).toString(), encKey: grantee.encKey };
}

/**
 * Opens a dataset as `granteeDid` (controlled by the client's account): checks the grant
 * on chain, unwraps the data key with the grantee's X25519 secret, decrypts, and records
 * the access (unless `record: false`).
 *
 * @throws {AccessDeniedError} without a valid grant
 * @throws {DecryptionError} when the secret key does not match the wrapped key
 * @example
 * ```ts ignore
 * const rows = await openDataset(grantee, { addresses, store, datasetId, granteeDid, encSecretKey });
 * ```
 */
export async function openDataset(
  client: ArthaClient,
  params: {
    addresses: Addresses;
    /**
     * Where the wrapped key and the ciphertext are read: a store, or a coordinator's gateway
     * whose reads are signed by the grantee DID's controller (a wrapped key stored through POST
     * /did/grant is served only to that signer, while its grant stands).
     */
    store: { get(cid: string): Promise<Uint8Array> };
    datasetId: Hex;
    granteeDid: Hex;
    encSecretKey: Uint8Array;
    /** Purpose recorded in the audit event (hashed); default "training". */
    purpose?: string;
    /** Emit the on-chain audit event. Default true. */
    record?: boolean;
  },
): Promise<Uint8Array> {
  const { addresses, store, datasetId, granteeDid } = params;
  if (!(await hasAccess(client, { addresses, datasetId, granteeDid }))) {
    throw new AccessDeniedError(datasetId, granteeDid);
  }
  const grant = await getGrant(client, { addresses, datasetId, granteeDid });
  const dataset = await getDataset(client, { addresses, datasetId });
  const dataKey = unwrapKey(await store.get(grant.wrappedKeyCid), params.encSecretKey, {
    context: grantContext(datasetId, granteeDid),
  });
  const plaintext = decryptDataset(await store.get(dataset.cid), dataKey);
  if (params.record ?? true) {
    const purposeHash = digestHex(new TextEncoder().encode(params.purpose ?? "training"));
    await recordAccess(client, { addresses, datasetId, granteeDid, purposeHash });
  }
  return plaintext;
}

/**
 * Hard revocation: re-encrypts the dataset under a fresh data key, stores the new ciphertext,
 * rotates it on chain (every old grant ends) and re-grants `keep` with keys wrapped for the new
 * data key. Returns the new data key; the old one (and the old ciphertext) open nothing new.
 * Every kept grantee's key is wrapped before the chain rotates, so one that takes none (or a
 * revoked DID) refuses the rotation with nothing changed; a grant refused after it is listed in
 * `failed` (retry it with {@link grantAccess}) and the new key is still returned. Found in the
 * DID audit: a kept grantee that set a low-order key stopped the rotation after the chain had
 * ended every grant, before the others were re-granted, and the new data key was lost.
 *
 * @example
 * ```ts ignore
 * const { dataKey } = await rotateDataKey(owner, { addresses, store, datasetId, plaintext, keep: [bobDid] });
 * ```
 */
export async function rotateDataKey(
  client: ArthaClient,
  params: {
    addresses: Addresses;
    store: Store;
    datasetId: Hex;
    plaintext: Uint8Array;
    /** DIDs that keep access (re-granted under the new key). */
    keep: Hex[];
  },
): Promise<{ cid: string; dataKey: Uint8Array; failed: { granteeDid: Hex; error: Error }[] }> {
  const { addresses, store, datasetId } = params;
  const dataKey = randomKey();
  const wrapped: { wrappedKeyCid: string; encKey: Hex }[] = [];
  for (const granteeDid of params.keep) {
    wrapped.push(
      await storeWrappedKey(client, {
        addresses,
        store,
        datasetId,
        dataKey,
        granteeDid,
        live: true,
      }),
    );
  }
  const cid = (await store.put(encryptDataset(params.plaintext, dataKey))).toString();
  await rotateDataset(client, { addresses, datasetId, cid });
  const failed: { granteeDid: Hex; error: Error }[] = [];
  for (const [i, granteeDid] of params.keep.entries()) {
    try {
      await grantDataAccess(client, {
        addresses,
        datasetId,
        granteeDid,
        ...wrapped[i]!,
      });
    } catch (e) {
      failed.push({ granteeDid, error: e as Error });
    }
  }
  return { cid, dataKey, failed };
}
