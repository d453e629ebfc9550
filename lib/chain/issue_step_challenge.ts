/** Challenges one step of a committed round (VerificationManager.issueStepChallenge). */
import type { ArthaClient } from "./client.ts";
import { abis } from "./contracts.ts";
import { sendContract } from "./send_contract.ts";
import { getIssuedChallenge, type IssuedChallenge } from "./get_issued_challenge.ts";
import type { IssueChallengeParameters } from "./issue_challenge.ts";

/** Issues the step challenge (authorised verifier); its `count` is 0 (no chunks asked). */
export async function issueStepChallenge(
  client: ArthaClient,
  params: IssueChallengeParameters,
): Promise<IssuedChallenge> {
  const sent = await sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "issueStepChallenge",
    args: [params.jobId, params.round, params.nodePubkey],
  });
  return getIssuedChallenge(client, { addresses: params.addresses, sent });
}
