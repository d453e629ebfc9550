/** Answers a chunk challenge with the chunk openings (VerificationManager.respond). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

export interface RespondChallengeParameters {
  addresses: ArthaAddresses;
  challengeId: bigint;
  /** The digest triple the round committed. */
  digests: { lossDigest: Hex; gradientDigest: Hex; weightsDigest: Hex };
  /** The asked chunks (hex, "0x" for padding) and their Merkle proofs (see chunk_openings.ts). */
  openings: { chunks: Hex[]; proofs: Hex[][] };
}

/** Sends the answer (the challenged node's operator, within the response window). */
export function respondChallenge(
  client: ArthaClient,
  params: RespondChallengeParameters,
): Promise<SendResult> {
  const { lossDigest, gradientDigest, weightsDigest } = params.digests;
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "respond",
    args: [
      params.challengeId,
      lossDigest,
      gradientDigest,
      weightsDigest,
      params.openings.chunks,
      params.openings.proofs,
    ],
  });
}
