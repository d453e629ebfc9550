/** Settles a target's committee attestations (VerificationManager.settleAttestations). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** Counts the attestations: a strict majority against the target's commit slashes it 50%. */
export function settleAttestations(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; targetNode: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "settleAttestations",
    args: [params.jobId, params.round, params.targetNode],
  });
}
