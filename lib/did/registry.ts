/**
 * Chain verbs of the DID half of `ArthaDIDRegistry`: create, rotate, update, revoke, read.
 * Each takes the client first, then a parameters object (viem style); writes simulate
 * first, so a revert surfaces as `ChainCallError` naming the Solidity error.
 *
 * @module
 */
import type { Address, Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { abis, type ArthaAddresses } from "../chain/contracts.ts";
import { sendContract, type SendResult } from "../chain/_send.ts";

/** The on-chain half of a DID document. */
export interface OnChainDid {
  didHash: Hex;
  /** Controller account. */
  owner: Address;
  authKey: Hex;
  encKey: Hex;
  /** SVDB CID of the full document. */
  metaCid: string;
  created: bigint;
  updated: bigint;
  revoked: boolean;
}

/** Parameters of {@link createDid}. */
export interface CreateDidParameters {
  addresses: Pick<ArthaAddresses, "dids">;
  didHash: Hex;
  /** Ed25519 public key (bytes32). */
  authKey: Hex;
  /** X25519 public key (bytes32). */
  encKey: Hex;
  /** SVDB CID of the DID document. */
  metaCid: string;
}

/**
 * Creates a DID controlled by the client's account.
 *
 * @example
 * ```ts ignore
 * await createDid(client, { addresses, didHash, authKey, encKey, metaCid: cid.toString() });
 * ```
 */
export function createDid(client: ArthaClient, params: CreateDidParameters): Promise<SendResult> {
  const { addresses, didHash, authKey, encKey, metaCid } = params;
  return sendContract(client, {
    address: addresses.dids,
    abi: abis.dids,
    functionName: "createDID",
    args: [didHash, authKey, encKey, metaCid],
  });
}

/**
 * Replaces both keys of a DID (controller only).
 *
 * @example
 * ```ts ignore
 * await rotateKeys(client, { addresses, didHash, authKey: next.publicKeyHex, encKey });
 * ```
 */
export function rotateKeys(
  client: ArthaClient,
  params: { addresses: Pick<ArthaAddresses, "dids">; didHash: Hex; authKey: Hex; encKey: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "rotateKeys",
    args: [params.didHash, params.authKey, params.encKey],
  });
}

/**
 * Points a DID at a new document CID (controller only).
 *
 * @example
 * ```ts ignore
 * await updateMetadata(client, { addresses, didHash, metaCid: newCid.toString() });
 * ```
 */
export function updateMetadata(
  client: ArthaClient,
  params: { addresses: Pick<ArthaAddresses, "dids">; didHash: Hex; metaCid: string },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "updateMetadata",
    args: [params.didHash, params.metaCid],
  });
}

/**
 * Revokes a DID for good; its grants stop working (controller only).
 *
 * @example
 * ```ts ignore
 * await revokeDid(client, { addresses, didHash });
 * ```
 */
export function revokeDid(
  client: ArthaClient,
  params: { addresses: Pick<ArthaAddresses, "dids">; didHash: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "revokeDID",
    args: [params.didHash],
  });
}

/**
 * Reads a DID's on-chain record; `null` when it was never created.
 *
 * @example
 * ```ts ignore
 * const record = await getDid(client, { addresses, didHash });
 * ```
 */
export async function getDid(
  client: ArthaClient,
  params: { addresses: Pick<ArthaAddresses, "dids">; didHash: Hex },
): Promise<OnChainDid | null> {
  const d = await client.readContract({
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "getDID",
    args: [params.didHash],
  });
  if (/^0x0{40}$/.test(d.owner)) return null;
  return {
    didHash: d.didHash,
    owner: d.owner,
    authKey: d.authKey,
    encKey: d.encKey,
    metaCid: d.metaCid,
    created: BigInt(d.created),
    updated: BigInt(d.updated),
    revoked: d.revoked,
  };
}
