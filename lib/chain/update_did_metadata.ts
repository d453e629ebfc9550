/** Points a DID at a new document CID (ArthaDIDRegistry.updateMetadata). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/**
 * Sends the update (controller only).
 *
 * @example
 * ```ts ignore
 * await updateDidMetadata(client, { addresses, didHash, metaCid: newCid.toString() });
 * ```
 */
export function updateDidMetadata(
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
