/** Slashes a cluster aggregator 50% for a round's aggregate the coordinator's recomputation
 * contradicts (VerificationManager.penaliseAggregator: once per round it committed in). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** VerificationManager.penaliseAggregator (authorised verifier). */
export function penaliseAggregator(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; nodePubkey: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "penaliseAggregator",
    args: [params.jobId, params.round, params.nodePubkey],
  });
}
