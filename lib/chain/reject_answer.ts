/** The validator's verdict that a challenge's answer is not the recomputed round
 * (VerificationManager.rejectAnswer: the node is slashed 50% for fake gradients). */
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** VerificationManager.rejectAnswer (authorised verifier), while the challenge is answered. */
export function rejectAnswer(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; challengeId: bigint },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "rejectAnswer",
    args: [params.challengeId],
  });
}
