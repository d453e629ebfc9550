/** Points a dataset at a re-encrypted version (ArthaDIDRegistry.rotateDataset). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/**
 * Sends the rotation (dataset owner only); every grant made for the old key ends. See
 * `rotateDataKey` in lib/did/dataset_share.ts for the whole procedure.
 *
 * @example
 * ```ts ignore
 * await rotateDataset(client, { addresses, datasetId, cid: newCid });
 * ```
 */
export function rotateDataset(
  client: ArthaClient,
  params: { addresses: Pick<ArthaAddresses, "dids">; datasetId: Hex; cid: string },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "rotateDataset",
    args: [params.datasetId, params.cid],
  });
}
