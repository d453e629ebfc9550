/** The defender's answer to a dispute (DisputeGame.defend). */
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";
import type { DisputeEnds } from "./open_dispute.ts";

/** Answers with the defender's Ends (defender's operator, within the move window). */
export function defendDispute(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; disputeId: bigint; ends: DisputeEnds },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.disputes,
    abi: abis.disputes,
    functionName: "defend",
    args: [params.disputeId, params.ends],
  });
}
