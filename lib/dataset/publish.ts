/**
 * Publishing a prepared dataset the way lib/did/dataset_share.ts shares one: encrypt under a
 * fresh data key, upload the ciphertext, register it on chain under the owner's DID, then for
 * each grantee wrap the data key to its on-chain X25519 key, upload the wrapped key and record
 * the grant. The same steps as `shareDataset` + `grantAccess`, spelled out here because the
 * report needs each transaction's hash and the upload may go through a gateway.
 *
 * @module
 */
import { type Hex, hexToBytes } from "../crypto/digest.ts";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { randomKey } from "../crypto/aead.ts";
import { encryptDataset } from "../crypto/dataset_cipher.ts";
import { wrapKey } from "../crypto/key_wrap.ts";
import { grantDataAccess, registerDataset } from "../did/data_access.ts";
import { datasetIdOf, grantContext } from "../did/dataset_share.ts";
import { getDid } from "../did/registry.ts";
import { formatDid } from "../did/did.ts";
import type { StoreGrantKey, Upload } from "./upload.ts";

type Addresses = Pick<ArthaAddresses, "dids">;

/** One grant made: the grantee, its wrapped key's CID and the transaction. */
export interface GrantRecord {
  did: string;
  wrappedKeyCid: string;
  tx: Hex;
}

/** A grant that could not be made: the grantee and why. */
export interface GrantFailure {
  did: string;
  reason: string;
}

/** What publishing stored and sent. */
export interface Published {
  datasetId: Hex;
  cid: string;
  encryptedBytes: number;
  registerTx: Hex;
  grants: GrantRecord[];
  /**
   * Grantees left without a grant (their DID revoked, or its key changed to one nothing can wrap
   * to, between the checks and the grant). The data key is not kept, so they need a new publish.
   */
  failed: GrantFailure[];
}

/**
 * Encrypts, uploads, registers and grants.
 *
 * @example
 * ```ts ignore
 * const published = await publishDataset(owner, {
 *   addresses, upload: uploadToStore(store), ownerDid, plaintext, grantees: [bobDid],
 * });
 * ```
 */
export async function publishDataset(
  client: ArthaClient,
  params: {
    addresses: Addresses;
    upload: Upload;
    ownerDid: Hex;
    plaintext: Uint8Array;
    grantees: Hex[];
    /** Unix seconds the grants end; omitted = no expiry. */
    expiresAt?: bigint;
    /**
     * Where a grant's wrapped key goes when not through `upload`: a coordinator's POST
     * /did/grant, which keeps the key and the dataset (an upload there is only leased).
     */
    storeGrantKey?: StoreGrantKey;
  },
): Promise<Published> {
  const { addresses, upload, ownerDid } = params;
  const dataKey = randomKey();
  const sealed = encryptDataset(params.plaintext, dataKey);
  const cid = await upload(sealed);
  const datasetId = datasetIdOf(ownerDid, cid);
  const registered = await registerDataset(client, { addresses, datasetId, ownerDid, cid });
  const grants: GrantRecord[] = [];
  const failed: GrantFailure[] = [];
  for (const granteeDid of params.grantees) {
    // One grantee's failure leaves the others their grants: found in the DID audit, a grantee
    // that rotated its key to a low-order one (or revoked its DID) between the checks and its
    // grant stopped the loop, and the grantees after it got nothing while the data key, kept in
    // this process only, was gone: one transaction of theirs cost the owner a whole publish.
    try {
      grants.push(await grant(client, { ...params, datasetId, dataKey, granteeDid }));
    } catch (e) {
      failed.push({ did: formatDid(granteeDid), reason: (e as Error).message });
    }
  }
  const encryptedBytes = sealed.length;
  return { datasetId, cid, encryptedBytes, registerTx: registered.hash, grants, failed };
}

/** Wraps the data key to the grantee's current encryption key, uploads it, records the grant. */
async function grant(
  client: ArthaClient,
  p: {
    addresses: Addresses;
    upload: Upload;
    storeGrantKey?: StoreGrantKey;
    datasetId: Hex;
    dataKey: Uint8Array;
    granteeDid: Hex;
    expiresAt?: bigint;
  },
): Promise<GrantRecord> {
  const grantee = await getDid(client, { addresses: p.addresses, didHash: p.granteeDid });
  if (!grantee) throw new Error(`Cannot grant ${formatDid(p.granteeDid)}: not registered`);
  if (grantee.revoked) {
    throw new Error(`Cannot grant ${formatDid(p.granteeDid)}: its DID is revoked`);
  }
  const wrapped = wrapKey(p.dataKey, hexToBytes(grantee.encKey), {
    context: grantContext(p.datasetId, p.granteeDid),
  });
  const wrappedKeyCid = p.storeGrantKey
    ? await p.storeGrantKey({
      datasetId: p.datasetId,
      granteeDid: p.granteeDid,
      wrappedKey: wrapped,
    })
    : await p.upload(wrapped);
  const sent = await grantDataAccess(client, {
    addresses: p.addresses,
    datasetId: p.datasetId,
    granteeDid: p.granteeDid,
    encKey: grantee.encKey,
    wrappedKeyCid,
    expiresAt: p.expiresAt,
  });
  return { did: formatDid(p.granteeDid), wrappedKeyCid, tx: sent.hash };
}
