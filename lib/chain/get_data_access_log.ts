/** The audit trail of dataset grants: ArthaDIDRegistry's DataAccessed events. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

export interface DataAccess {
  datasetId?: Hex;
  granteeDid?: Hex;
  accessor?: Hex;
  purposeHash?: Hex;
  block: bigint | null;
  logIndex: number | null;
  tx: Hex | null;
}

/**
 * DataAccessed events in [fromBlock, toBlock] (default: the whole chain), of one dataset and
 * grantee when named, else of all.
 */
export async function getDataAccessLog(
  client: ArthaClient,
  params: {
    addresses: ArthaAddresses;
    datasetId?: Hex;
    granteeDid?: Hex;
    fromBlock?: bigint;
    toBlock?: bigint;
  },
): Promise<DataAccess[]> {
  const events = await client.getContractEvents({
    address: params.addresses.dids,
    abi: abis.dids,
    eventName: "DataAccessed",
    args: { datasetId: params.datasetId, granteeDid: params.granteeDid },
    fromBlock: params.fromBlock ?? 0n,
    ...(params.toBlock === undefined ? {} : { toBlock: params.toBlock }),
  });
  return events.map((e) => ({
    datasetId: e.args.datasetId,
    granteeDid: e.args.granteeDid,
    accessor: e.args.accessor,
    purposeHash: e.args.purposeHash,
    block: e.blockNumber,
    logIndex: e.logIndex,
    tx: e.transactionHash,
  }));
}
