/** AIJobManager.stalledAt: from when the owner of a running job may abandon it. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/**
 * Unix seconds from which the owner of running job `jobId` may abandon it: a day and one round's
 * budgeted compute after its last round closed (or its first assignment). 0 if it is not running.
 */
export async function getStalledAt(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex },
): Promise<number> {
  const at = await client.readContract({
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "stalledAt",
    args: [params.jobId],
  });
  return Number(at);
}
