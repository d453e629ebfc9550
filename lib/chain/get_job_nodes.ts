/** The nodes AIJobManager records as assigned to a job (lower-case). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** AIJobManager.nodesOf(jobId), lower-cased. */
export async function getJobNodes(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex },
): Promise<Hex[]> {
  const nodes = await client.readContract({
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "nodesOf",
    args: [params.jobId],
  });
  return nodes.map((n) => n.toLowerCase() as Hex);
}
