/** A committee member's attestation of a recomputed result (VerificationManager.attest). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

export interface AttestResultParameters {
  addresses: ArthaAddresses;
  jobId: Hex;
  round: number;
  /** The committee member attesting (its operator sends). */
  validatorNode: Hex;
  /** The node whose commit was recomputed. */
  targetNode: Hex;
  /** The result the validator recomputed. */
  resultHash: Hex;
}

/** Attests, as committee member `validatorNode` (sent by its operator), a recomputed result. */
export function attestResult(
  client: ArthaClient,
  params: AttestResultParameters,
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "attest",
    args: [params.jobId, params.round, params.validatorNode, params.targetNode, params.resultHash],
  });
}
