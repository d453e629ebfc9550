/** Registers an encrypted dataset owned by a DID (ArthaDIDRegistry.registerDataset). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/**
 * Sends the registration (the owner DID's controller: one of the caller's DIDs).
 *
 * @example
 * ```ts ignore
 * await registerDataset(client, { addresses, datasetId, ownerDid, cid: cid.toString() });
 * ```
 */
export function registerDataset(
  client: ArthaClient,
  params: { addresses: Pick<ArthaAddresses, "dids">; datasetId: Hex; ownerDid: Hex; cid: string },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "registerDataset",
    args: [params.datasetId, params.ownerDid, params.cid],
  });
}
