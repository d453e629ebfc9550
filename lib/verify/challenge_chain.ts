/**
 * Challenges of VerificationManager as verification sees them: issue a challenge or gradient
 * sample, answer it, claim its timeout, settle a task group by redundancy, report a copycat (the
 * lib/chain verbs, one transaction each), and list the challenges of a node still open.
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { type ArthaAddresses, ChallengeStatus } from "../chain/contracts.ts";
import { getChallenge } from "../chain/get_challenge.ts";
import { getIssuedIn } from "../chain/get_challenge_ids.ts";
import type { ChallengeInfo } from "../chain/get_issued_challenge.ts";

export type { ChallengeInfo } from "../chain/get_issued_challenge.ts";
export { issueChallenge } from "../chain/issue_challenge.ts";
export { issueStepChallenge } from "../chain/issue_step_challenge.ts";
export { requestGradientSample } from "../chain/request_gradient_sample.ts";
export { respondStep } from "../chain/respond_step.ts";
export { respondChallenge } from "../chain/respond_challenge.ts";
export { timeoutChallenge } from "../chain/timeout_challenge.ts";
export { setTaskGroups } from "../chain/set_task_groups.ts";
export { settleRedundancy } from "../chain/settle_redundancy.ts";
export { reportCopycat } from "../chain/report_copycat.ts";

/** Challenges of `nodePubkey` that are still open, oldest first. */
export async function openChallenges(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; nodePubkey: Hex; fromBlock?: bigint; toBlock?: bigint },
): Promise<(ChallengeInfo & { issuedIn: bigint })[]> {
  const out: (ChallengeInfo & { issuedIn: bigint })[] = [];
  for (const { challengeId, issuedIn } of await getIssuedIn(client, params)) {
    const c = await getChallenge(client, { addresses: params.addresses, challengeId });
    if (c.status !== ChallengeStatus.Open) continue;
    out.push({
      challengeId,
      jobId: c.jobId,
      nodePubkey: c.nodePubkey,
      round: c.round,
      step: c.step,
      count: c.count,
      seed: c.seed,
      deadline: c.deadline,
      issuedIn,
    });
  }
  return out;
}
