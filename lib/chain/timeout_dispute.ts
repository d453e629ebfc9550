/** Claims a missed move window of a dispute (DisputeGame.timeout). */
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/**
 * Ends a dispute whose move window passed: the task group's majority decides if there is one,
 * else the side that did not move loses 10%. Anyone may call it.
 */
export function timeoutDispute(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; disputeId: bigint },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.disputes,
    abi: abis.disputes,
    functionName: "timeout",
    args: [params.disputeId],
  });
}
