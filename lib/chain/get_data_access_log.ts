/** The audit trail of a dataset grant: every DataAccessed event of (dataset, grantee). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

export interface DataAccess {
  accessor?: Hex;
  purposeHash?: Hex;
  block: bigint | null;
  tx: Hex | null;
}

/** ArthaDIDRegistry DataAccessed events of `datasetId` by `granteeDid`, since block 0. */
export async function getDataAccessLog(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; datasetId: Hex; granteeDid: Hex },
): Promise<DataAccess[]> {
  const events = await client.getContractEvents({
    address: params.addresses.dids,
    abi: abis.dids,
    eventName: "DataAccessed",
    args: { datasetId: params.datasetId, granteeDid: params.granteeDid },
    fromBlock: 0n,
  });
  return events.map((e) => ({
    accessor: e.args.accessor,
    purposeHash: e.args.purposeHash,
    block: e.blockNumber,
    tx: e.transactionHash,
  }));
}
