/**
 * Chain verbs of the DID half of `ArthaDIDRegistry`: create, rotate, update, revoke, read.
 * Each takes the client first, then a parameters object (viem style); writes simulate
 * first, so a revert surfaces as `ChainCallError` naming the Solidity error.
 *
 * @module
 */
import type { Address, Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { arthaDomain, typedDigest } from "../crypto/domain.ts";
import { type NodeKey, signBytes } from "../crypto/keys.ts";
import { hexToBytes } from "../crypto/digest.ts";
import { abis, type ArthaAddresses } from "../chain/contracts.ts";
import { sendContract, type SendResult } from "../chain/send_contract.ts";

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
  /** The Ed25519 auth key pair: its public half goes on chain, its secret signs the key proof. */
  authKey: NodeKey;
  /** X25519 public key (bytes32). */
  encKey: Hex;
  /** SVDB CID of the DID document. */
  metaCid: string;
}

const DID_CONTROL_FIELDS = [
  { name: "didHash", type: "bytes32" },
  { name: "controller", type: "address" },
  { name: "encKey", type: "bytes32" },
  { name: "nonce", type: "uint256" },
] as const;

/**
 * The auth key's proof that `controller` may create (nonce 0) or rotate to it (the DID's
 * `keyNonce`): an Ed25519 signature over the EIP-712 DIDControl digest of the registry
 * (ArthaDIDRegistry.controlDigest), so nobody can register another person's DID or point it at
 * their own encryption key.
 *
 * @example
 * ```ts
 * import { generateNodeKey } from "../crypto/keys.ts";
 * import { didKeyProof } from "./registry.ts";
 * const proof = didKeyProof(generateNodeKey(), {
 *   chainId: 31337, registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
 *   didHash: `0x${"11".repeat(32)}`, controller: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
 *   encKey: `0x${"22".repeat(32)}`, nonce: 0n,
 * });
 * console.assert(proof.length === 130);
 * ```
 */
export function didKeyProof(
  authKey: NodeKey,
  p: {
    chainId: number;
    registry: Address;
    didHash: Hex;
    controller: Address;
    encKey: Hex;
    nonce: bigint;
  },
): Hex {
  const digest = typedDigest(arthaDomain(p.chainId, p.registry), "DIDControl", DID_CONTROL_FIELDS, {
    didHash: p.didHash,
    controller: p.controller,
    encKey: p.encKey,
    nonce: p.nonce,
  });
  return signBytes(authKey, hexToBytes(digest));
}

/**
 * Creates a DID controlled by the client's account, proving the auth key (see didKeyProof).
 *
 * @example
 * ```ts ignore
 * await createDid(client, { addresses, didHash, authKey: key, encKey, metaCid: cid.toString() });
 * ```
 */
export function createDid(client: ArthaClient, params: CreateDidParameters): Promise<SendResult> {
  const { addresses, didHash, authKey, encKey, metaCid } = params;
  const proof = didKeyProof(authKey, {
    chainId: client.chain.id,
    registry: addresses.dids,
    didHash,
    controller: client.account.address,
    encKey,
    nonce: 0n,
  });
  return sendContract(client, {
    address: addresses.dids,
    abi: abis.dids,
    functionName: "createDID",
    args: [didHash, authKey.publicKeyHex, encKey, metaCid, proof],
  });
}

/**
 * Replaces both keys of a DID and its document CID in one transaction (controller only); the new
 * auth key signs its proof at the DID's current key nonce.
 *
 * @example
 * ```ts ignore
 * await rotateKeys(client, { addresses, didHash, authKey: next, encKey, metaCid });
 * ```
 */
export async function rotateKeys(
  client: ArthaClient,
  params: {
    addresses: Pick<ArthaAddresses, "dids">;
    didHash: Hex;
    authKey: NodeKey;
    encKey: Hex;
    /** SVDB CID of the document listing the new keys. */
    metaCid: string;
  },
): Promise<SendResult> {
  const { addresses, didHash, authKey, encKey, metaCid } = params;
  const doc = await client.readContract({
    address: addresses.dids,
    abi: abis.dids,
    functionName: "getDID",
    args: [didHash],
  });
  const proof = didKeyProof(authKey, {
    chainId: client.chain.id,
    registry: addresses.dids,
    didHash,
    controller: client.account.address,
    encKey,
    nonce: BigInt(doc.keyNonce),
  });
  return sendContract(client, {
    address: addresses.dids,
    abi: abis.dids,
    functionName: "rotateKeys",
    args: [didHash, authKey.publicKeyHex, encKey, metaCid, proof],
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
