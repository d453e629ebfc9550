/** Ends an unresolved dispute nobody arbitrated in time (DisputeGame.expire). */
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** Expires the dispute after its arbitration window: nobody slashed, the bond back to its payer. */
export function expireDispute(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; disputeId: bigint },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.disputes,
    abi: abis.disputes,
    functionName: "expire",
    args: [params.disputeId],
  });
}
