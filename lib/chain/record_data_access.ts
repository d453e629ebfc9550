/** Records a use of a dataset for the audit trail (ArthaDIDRegistry.recordAccess). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/**
 * Sends the record, which emits DataAccessed (the grantee's controller only, while the grant is
 * valid).
 *
 * @example
 * ```ts ignore
 * await recordDataAccess(client, { addresses, datasetId, granteeDid, purposeHash });
 * ```
 */
export function recordDataAccess(
  client: ArthaClient,
  params: {
    addresses: Pick<ArthaAddresses, "dids">;
    datasetId: Hex;
    granteeDid: Hex;
    purposeHash: Hex;
  },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "recordAccess",
    args: [params.datasetId, params.granteeDid, params.purposeHash],
  });
}
