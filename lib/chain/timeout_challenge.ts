/** Claims the timeout of an unanswered challenge (VerificationManager.timeout). */
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** Ends the challenge once its window passed; the contract slashes the node 10%. */
export function timeoutChallenge(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; challengeId: bigint },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "timeout",
    args: [params.challengeId],
  });
}
