import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** Assigns nodes to a job (job owner or authorised coordinator). */
export function assignNodes(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; nodes: Hex[] },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "assign",
    args: [params.jobId, params.nodes],
  });
}

/** Moves a task from a node that missed its heartbeat to another node. */
export function reassignNode(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; fromNode: Hex; toNode: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "reassign",
    args: [params.jobId, params.fromNode, params.toNode],
  });
}
