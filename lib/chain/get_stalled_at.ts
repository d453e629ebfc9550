/** AIJobManager.stalledAt: from when a running job may be abandoned. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/**
 * Unix seconds from which running job `jobId` may be abandoned (by its owner or a node's
 * operator): a day and one round's budgeted compute after its last round closed (or its first
 * assignment). 0 if it is not running.
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
