/** Asks for a sample of a committed update's chunks (VerificationManager.requestGradientSample). */
import type { ArthaClient } from "./client.ts";
import { abis } from "./contracts.ts";
import { sendContract } from "./send_contract.ts";
import { getIssuedChallenge, type IssuedChallenge } from "./get_issued_challenge.ts";
import type { IssueChallengeParameters } from "./issue_challenge.ts";

export interface RequestGradientSampleParameters extends IssueChallengeParameters {
  /** Chunks of the committed update. */
  chunkCount: number;
  /** Share of the chunks to open, in basis points (100-500). */
  sampleBps: number;
}

/** Requests `sampleBps` of the `chunkCount` chunks (authorised verifier); returns the challenge. */
export async function requestGradientSample(
  client: ArthaClient,
  params: RequestGradientSampleParameters,
): Promise<IssuedChallenge> {
  const sent = await sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "requestGradientSample",
    args: [
      params.jobId,
      params.round,
      params.nodePubkey,
      BigInt(params.chunkCount),
      BigInt(params.sampleBps),
    ],
  });
  return getIssuedChallenge(client, { addresses: params.addresses, sent });
}
