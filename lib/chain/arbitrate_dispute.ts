/** Decides an unresolved dispute (DisputeGame.arbitrate). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** Decides with the recomputed s_hi (authorised arbiter). */
export function arbitrateDispute(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; disputeId: bigint; digest: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.disputes,
    abi: abis.disputes,
    functionName: "arbitrate",
    args: [params.disputeId, params.digest],
  });
}
