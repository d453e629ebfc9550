/** Ends an answered challenge's hold on its job's settlement (VerificationManager.release). */
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/**
 * Releases an answered challenge: at once from the authorised validator that checked the answer
 * (after penalising, if it was wrong), from anyone once the validation window has passed.
 */
export function releaseChallenge(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; challengeId: bigint },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "release",
    args: [params.challengeId],
  });
}
