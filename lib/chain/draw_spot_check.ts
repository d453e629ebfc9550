/** Draws whether a closed round is spot-checked, from the hash of the block that closed it. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** VerificationManager.drawSpotCheck; reverts Verification__AlreadyDrawn the second time. */
export function drawSpotCheck(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "drawSpotCheck",
    args: [params.jobId, params.round],
    // The draw uses the hash of the block that closed the round: it lands in a later one.
    blockTag: "pending",
  });
}
