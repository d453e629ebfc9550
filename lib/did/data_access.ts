/**
 * Chain verbs of the data-access half of `ArthaDIDRegistry`: datasets, grants, the audit
 * trail, and consent records.
 *
 * @module
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { abis, type ArthaAddresses } from "../chain/contracts.ts";
import { sendContract, type SendResult } from "../chain/send_contract.ts";

type Addresses = Pick<ArthaAddresses, "dids">;

/** A grant as stored on chain. */
export interface Grant {
  grantedAt: bigint;
  /** Unix seconds; 0 = no expiry. */
  expiresAt: bigint;
  active: boolean;
  /** The dataset key version the wrapped key opens (older ones grant nothing). */
  keyVersion: number;
  /** SVDB CID of the data key wrapped for the grantee. */
  wrappedKeyCid: string;
}

/**
 * Registers an encrypted dataset owned by one of the caller's DIDs.
 *
 * @example
 * ```ts ignore
 * await registerDataset(client, { addresses, datasetId, ownerDid, cid: cid.toString() });
 * ```
 */
export function registerDataset(
  client: ArthaClient,
  params: { addresses: Addresses; datasetId: Hex; ownerDid: Hex; cid: string },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "registerDataset",
    args: [params.datasetId, params.ownerDid, params.cid],
  });
}

/**
 * Grants a DID access to a dataset (dataset owner only).
 *
 * @example
 * ```ts ignore
 * await grantDataAccess(client, { addresses, datasetId, granteeDid, wrappedKeyCid });
 * ```
 */
export function grantDataAccess(
  client: ArthaClient,
  params: {
    addresses: Addresses;
    datasetId: Hex;
    granteeDid: Hex;
    wrappedKeyCid: string;
    /** Unix seconds; 0 or omitted = no expiry. */
    expiresAt?: bigint;
  },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "grantDataAccess",
    args: [params.datasetId, params.granteeDid, params.wrappedKeyCid, params.expiresAt ?? 0n],
  });
}

/**
 * Revokes a grant (dataset owner only).
 *
 * @example
 * ```ts ignore
 * await revokeDataAccess(client, { addresses, datasetId, granteeDid });
 * ```
 */
export function revokeDataAccess(
  client: ArthaClient,
  params: { addresses: Addresses; datasetId: Hex; granteeDid: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "revokeDataAccess",
    args: [params.datasetId, params.granteeDid],
  });
}

/**
 * Whether a grantee may use a dataset now (active, unexpired grant; grantee not revoked).
 *
 * @example
 * ```ts ignore
 * if (!(await hasAccess(client, { addresses, datasetId, granteeDid }))) throw new Error("no");
 * ```
 */
export function hasAccess(
  client: ArthaClient,
  params: { addresses: Addresses; datasetId: Hex; granteeDid: Hex },
): Promise<boolean> {
  return client.readContract({
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "hasAccess",
    args: [params.datasetId, params.granteeDid],
  });
}

/**
 * Records a use of a dataset for the audit trail (emits `DataAccessed`); the grantee's
 * controller only, while the grant is valid.
 *
 * @example
 * ```ts ignore
 * await recordAccess(client, { addresses, datasetId, granteeDid, purposeHash });
 * ```
 */
export function recordAccess(
  client: ArthaClient,
  params: { addresses: Addresses; datasetId: Hex; granteeDid: Hex; purposeHash: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "recordAccess",
    args: [params.datasetId, params.granteeDid, params.purposeHash],
  });
}

/**
 * A grantee's grant on a dataset (`active: false` when none).
 *
 * @example
 * ```ts ignore
 * const { wrappedKeyCid } = await getGrant(client, { addresses, datasetId, granteeDid });
 * ```
 */
export async function getGrant(
  client: ArthaClient,
  params: { addresses: Addresses; datasetId: Hex; granteeDid: Hex },
): Promise<Grant> {
  const g = await client.readContract({
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "getGrant",
    args: [params.datasetId, params.granteeDid],
  });
  return {
    grantedAt: BigInt(g.grantedAt),
    expiresAt: BigInt(g.expiresAt),
    active: g.active,
    keyVersion: g.keyVersion,
    wrappedKeyCid: g.wrappedKeyCid,
  };
}

/**
 * A dataset's record: owner DID and ciphertext CID (`ownerDid` zero when unknown).
 *
 * @example
 * ```ts ignore
 * const { cid } = await getDataset(client, { addresses, datasetId });
 * ```
 */
export async function getDataset(
  client: ArthaClient,
  params: { addresses: Addresses; datasetId: Hex },
): Promise<{ ownerDid: Hex; cid: string; keyVersion: number }> {
  const d = await client.readContract({
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "getDataset",
    args: [params.datasetId],
  });
  return { ownerDid: d.ownerDid, cid: d.cid, keyVersion: d.keyVersion };
}

/**
 * Points a dataset at a re-encrypted version and ends every grant made for the old key
 * (dataset owner only). See `rotateDataKey` in dataset_share.ts for the whole procedure.
 *
 * @example
 * ```ts ignore
 * await rotateDataset(client, { addresses, datasetId, cid: newCid });
 * ```
 */
export function rotateDataset(
  client: ArthaClient,
  params: { addresses: Addresses; datasetId: Hex; cid: string },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "rotateDataset",
    args: [params.datasetId, params.cid],
  });
}

/**
 * Gives or withdraws a subject's consent for a purpose (controller only).
 *
 * @example
 * ```ts ignore
 * await recordConsent(client, { addresses, subjectDid, purposeHash, given: true });
 * ```
 */
export function recordConsent(
  client: ArthaClient,
  params: { addresses: Addresses; subjectDid: Hex; purposeHash: Hex; given: boolean },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "recordConsent",
    args: [params.subjectDid, params.purposeHash, params.given],
  });
}

/**
 * Whether a subject currently consents to a purpose.
 *
 * @example
 * ```ts ignore
 * const ok = await hasConsent(client, { addresses, subjectDid, purposeHash });
 * ```
 */
export function hasConsent(
  client: ArthaClient,
  params: { addresses: Addresses; subjectDid: Hex; purposeHash: Hex },
): Promise<boolean> {
  return client.readContract({
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "hasConsent",
    args: [params.subjectDid, params.purposeHash],
  });
}
