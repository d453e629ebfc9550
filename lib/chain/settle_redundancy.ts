/** Settles a task group's round by redundancy (VerificationManager.settleRedundancy). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** Compares the group's commits; the outliers lose 50% of their stake. */
export function settleRedundancy(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; group: number },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "settleRedundancy",
    args: [params.jobId, params.round, params.group],
  });
}
