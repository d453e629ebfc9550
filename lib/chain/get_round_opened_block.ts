/** The block a job's round opened in: the job's start for round 0, else the previous round's
 * close (AIJobManager's JobStatusChanged and RoundClosed events). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses, JobStatus } from "./contracts.ts";

/** The block `round` of `jobId` opened in, or undefined while it has not opened. */
export async function getRoundOpenedBlock(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number },
): Promise<bigint | undefined> {
  const at = { address: params.addresses.jobs, abi: abis.jobs, fromBlock: 0n } as const;
  if (params.round === 0) {
    const logs = await client.getContractEvents({
      ...at,
      eventName: "JobStatusChanged",
      args: { jobId: params.jobId },
    });
    return logs.find((l) => l.args.status === JobStatus.Running)?.blockNumber ?? undefined;
  }
  const logs = await client.getContractEvents({
    ...at,
    eventName: "RoundClosed",
    args: { jobId: params.jobId },
  });
  return logs.find((l) => l.args.round === params.round - 1)?.blockNumber ?? undefined;
}
