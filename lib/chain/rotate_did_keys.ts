/** Replaces both keys of a DID and its document CID (ArthaDIDRegistry.rotateKeys). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

export interface RotateDidKeysParameters {
  addresses: Pick<ArthaAddresses, "dids">;
  didHash: Hex;
  /** The new Ed25519 public auth key (bytes32). */
  authKey: Hex;
  /** The new X25519 public key (bytes32). */
  encKey: Hex;
  /** SVDB CID of the document listing the new keys. */
  metaCid: string;
  /** The new auth key's signature of the DIDControl digest at the DID's key nonce. */
  proof: Hex;
}

/**
 * Sends the rotation (controller only), in one transaction.
 *
 * @example
 * ```ts ignore
 * await rotateDidKeys(client, { addresses, didHash, authKey, encKey, metaCid, proof });
 * ```
 */
export function rotateDidKeys(
  client: ArthaClient,
  params: RotateDidKeysParameters,
): Promise<SendResult> {
  const { didHash, authKey, encKey, metaCid, proof } = params;
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "rotateKeys",
    args: [didHash, authKey, encKey, metaCid, proof],
  });
}
