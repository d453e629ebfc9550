/** AIJobManager.assignedOperator: who operated a node when it was assigned to a job. */
import type { Address, Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/**
 * The operator recorded when `nodePubkey` was assigned to `jobId` (kept after a reassignment:
 * its closed rounds are still paid), or the zero address if it never was.
 */
export async function getAssignedOperator(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; nodePubkey: Hex },
): Promise<Address> {
  return await client.readContract({
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "assignedOperator",
    args: [params.jobId, params.nodePubkey],
  });
}
