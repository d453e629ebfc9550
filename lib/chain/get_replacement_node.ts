/** The node that took over another's task of a job on chain (AIJobManager.reassignNode). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { isAssigned } from "./is_assigned.ts";

/** `fromNode`'s latest replacement (lower-case), or undefined while it still holds its task. */
export async function getReplacementNode(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; fromNode: Hex; fromBlock?: bigint },
): Promise<Hex | undefined> {
  const { addresses, jobId, fromNode } = params;
  if (await isAssigned(client, { addresses, jobId, nodePubkey: fromNode })) return undefined;
  const moved = await client.getContractEvents({
    address: addresses.jobs,
    abi: abis.jobs,
    eventName: "TaskReassigned",
    args: { jobId, fromNode },
    fromBlock: params.fromBlock ?? 0n,
  });
  return moved.at(-1)?.args.toNode?.toLowerCase() as Hex | undefined;
}
