/** Creates a DID controlled by the sender (ArthaDIDRegistry.createDID). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { preflightContract, sendContract, type SendResult } from "./send_contract.ts";

export interface CreateDidParameters {
  addresses: Pick<ArthaAddresses, "dids">;
  didHash: Hex;
  /** Ed25519 public auth key (bytes32). */
  authKey: Hex;
  /** X25519 public key (bytes32). */
  encKey: Hex;
  /** SVDB CID of the DID document. */
  metaCid: string;
  /** The auth key's signature of the DIDControl digest at nonce 0 (lib/did/registry.ts). */
  proof: Hex;
}

/**
 * Sends the creation from the client's account, which becomes the DID's controller.
 *
 * @example
 * ```ts ignore
 * const authKey = key.publicKeyHex;
 * await createDid(client, { addresses, didHash, authKey, encKey, metaCid, proof });
 * ```
 */
export function createDid(client: ArthaClient, params: CreateDidParameters): Promise<SendResult> {
  return sendContract(client, createDidRequest(params));
}

/**
 * Runs the creation as a call, sending nothing: a revert, or an account that cannot pay, fails
 * here (see preflightContract).
 *
 * @example
 * ```ts ignore
 * await preflightCreateDid(client, { addresses, didHash, authKey, encKey, metaCid, proof });
 * ```
 */
export function preflightCreateDid(
  client: ArthaClient,
  params: CreateDidParameters,
): Promise<void> {
  return preflightContract(client, createDidRequest(params));
}

function createDidRequest(params: CreateDidParameters) {
  const { didHash, authKey, encKey, metaCid, proof } = params;
  return {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "createDID",
    args: [didHash, authKey, encKey, metaCid, proof],
  } as const;
}
