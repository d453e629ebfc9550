/**
 * The DID half of `ArthaDIDRegistry`: create, rotate, update, revoke, read. Creating and
 * rotating prove the auth key (an Ed25519 signature over the registry's EIP-712 DIDControl
 * digest) before the lib/chain verb sends; the rest are those verbs. Each takes the client first,
 * then a parameters object (viem style); a revert surfaces as `ChainCallError`.
 *
 * @module
 */
import type { Address, Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { arthaDomain, typedDigest } from "../crypto/domain.ts";
import { type NodeKey, signBytes } from "../crypto/keys.ts";
import { hexToBytes } from "../crypto/digest.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import type { SendResult } from "../chain/send_contract.ts";
import { createDid as sendCreateDid, preflightCreateDid } from "../chain/create_did.ts";
import { rotateDidKeys } from "../chain/rotate_did_keys.ts";
import { getDidKeyNonce } from "../chain/get_did_key_nonce.ts";

export { getDid, type OnChainDid } from "../chain/get_did.ts";
export { updateDidMetadata as updateMetadata } from "../chain/update_did_metadata.ts";
export { revokeDid } from "../chain/revoke_did.ts";

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
  return sendCreateDid(client, keysWithProof(client, params, 0n));
}

/**
 * {@link createDid} run as a call, sending nothing: fails as the transaction would (a revert, an
 * account that cannot pay its gas), before anything is written.
 *
 * @example
 * ```ts ignore
 * await preflightDid(client, { addresses, didHash, authKey: key, encKey, metaCid });
 * ```
 */
export function preflightDid(client: ArthaClient, params: CreateDidParameters): Promise<void> {
  return preflightCreateDid(client, keysWithProof(client, params, 0n));
}

/** The keys of `params` with the auth key's proof at `nonce`, as the registry's calls take them. */
function keysWithProof(
  client: ArthaClient,
  params: CreateDidParameters,
  nonce: bigint,
) {
  const { addresses, didHash, authKey, encKey, metaCid } = params;
  const proof = didKeyProof(authKey, {
    chainId: client.chain.id,
    registry: addresses.dids,
    didHash,
    controller: client.account.address,
    encKey,
    nonce,
  });
  return { addresses, didHash, authKey: authKey.publicKeyHex, encKey, metaCid, proof };
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
  /** The new keys; `metaCid` is the document that lists them. */
  params: CreateDidParameters,
): Promise<SendResult> {
  const nonce = await getDidKeyNonce(client, {
    addresses: params.addresses,
    didHash: params.didHash,
  });
  return rotateDidKeys(client, keysWithProof(client, params, nonce));
}
