/** Answers a step challenge with the step's record (VerificationManager.respondStep). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

export interface RespondStepParameters {
  addresses: ArthaAddresses;
  challengeId: bigint;
  /** The digest triple the round committed. */
  digests: { lossDigest: Hex; gradientDigest: Hex; weightsDigest: Hex };
  /** The challenged step's record. */
  record: Hex;
  /** Its Merkle proof against lossDigest. */
  proof: Hex[];
}

/** Sends the answer (the challenged node's operator, within the response window). */
export function respondStep(
  client: ArthaClient,
  params: RespondStepParameters,
): Promise<SendResult> {
  const { lossDigest, gradientDigest, weightsDigest } = params.digests;
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "respondStep",
    args: [
      params.challengeId,
      lossDigest,
      gradientDigest,
      weightsDigest,
      params.record,
      params.proof,
    ],
  });
}
