/** Revokes a DID for good; its grants stop working (ArthaDIDRegistry.revokeDID). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/**
 * Sends the revocation (controller only).
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
