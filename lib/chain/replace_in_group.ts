/**
 * Puts the node a task was reassigned to into its predecessor's task group, in its place
 * (VerificationManager.replaceInGroup).
 */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** Replaces `fromNode` by `toNode` in its group from the open round on (authorised coordinator). */
export function replaceInGroup(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; fromNode: Hex; toNode: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "replaceInGroup",
    args: [params.jobId, params.fromNode, params.toNode],
  });
}
