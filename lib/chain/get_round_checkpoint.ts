/** The checkpoint a job's round closed with, from AIJobManager's RoundClosed events. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** The checkpoint CID `round` of `jobId` closed with on chain, or undefined while it is open. */
export async function getRoundCheckpoint(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; fromBlock?: bigint },
): Promise<string | undefined> {
  const logs = await client.getContractEvents({
    address: params.addresses.jobs,
    abi: abis.jobs,
    eventName: "RoundClosed",
    args: { jobId: params.jobId },
    fromBlock: params.fromBlock ?? 0n,
  });
  return logs.find((l) => l.args.round === params.round)?.args.checkpointCid;
}
