/** Challenges one chunk and one step of a committed round (VerificationManager.issueChallenge). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract } from "./send_contract.ts";
import { getIssuedChallenge, type IssuedChallenge } from "./get_issued_challenge.ts";

/** The committed round a challenge targets (the chain knows the job's steps per round). */
export interface IssueChallengeParameters {
  addresses: ArthaAddresses;
  jobId: Hex;
  round: number;
  nodePubkey: Hex;
}

/** Issues the challenge (authorised verifier) and returns it as the chain recorded it. */
export async function issueChallenge(
  client: ArthaClient,
  params: IssueChallengeParameters,
): Promise<IssuedChallenge> {
  const sent = await sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "issueChallenge",
    args: [params.jobId, params.round, params.nodePubkey],
  });
  return getIssuedChallenge(client, { addresses: params.addresses, sent });
}
