/** Whether a node holds a task of a job (AIJobManager). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** AIJobManager.isAssigned(jobId, nodePubkey). */
export function isAssigned(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; nodePubkey: Hex },
): Promise<boolean> {
  return client.readContract({
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "isAssigned",
    args: [params.jobId, params.nodePubkey],
  });
}
