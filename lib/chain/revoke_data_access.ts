/** Revokes a DID's grant on a dataset (ArthaDIDRegistry.revokeDataAccess). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/**
 * Sends the revocation (dataset owner only).
 *
 * @example
 * ```ts ignore
 * await revokeDataAccess(client, { addresses, datasetId, granteeDid });
 * ```
 */
export function revokeDataAccess(
  client: ArthaClient,
  params: { addresses: Pick<ArthaAddresses, "dids">; datasetId: Hex; granteeDid: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "revokeDataAccess",
    args: [params.datasetId, params.granteeDid],
  });
}
