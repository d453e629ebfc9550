/** Whether a grantee may use a dataset now (ArthaDIDRegistry.hasAccess). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/**
 * True while the grant is active and unexpired and the grantee's DID is not revoked.
 *
 * @example
 * ```ts ignore
 * if (!(await hasDataAccess(client, { addresses, datasetId, granteeDid }))) throw new Error("no");
 * ```
 */
export function hasDataAccess(
  client: ArthaClient,
  params: {
    addresses: Pick<ArthaAddresses, "dids">;
    datasetId: Hex;
    granteeDid: Hex;
    /** Read at this block (default the latest), so two reads see one state. */
    blockNumber?: bigint;
  },
): Promise<boolean> {
  return client.readContract({
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "hasAccess",
    args: [params.datasetId, params.granteeDid],
    ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
  });
}
