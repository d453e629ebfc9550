/** Records the task group of each node of a job (VerificationManager.setTaskGroups). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** Stores `groups[i]` as the group of `nodes[i]` (authorised coordinator); groups start at 1. */
export function setTaskGroups(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; nodes: Hex[]; groups: number[] },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "setTaskGroups",
    args: [params.jobId, params.nodes, params.groups],
  });
}
