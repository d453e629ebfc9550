/**
 * A job's open verification cases, from the job owner's side: ending every one whose window has
 * passed, which anyone may do. ProofOfCompute settles no job with a case open; the coordinator
 * ends them as it goes, but when it has vanished (the reason a job is abandoned) nobody else did,
 * and `job cancel` could only say "run this again" for as long as a challenge it left stayed open:
 * for ever, with the nodes' pay and the owner's refund in escrow (found in the job owner audit).
 *
 * @example
 * ```ts ignore
 * import { endStaleCases } from "./job_cases.ts";
 * const { ended, openUntil } = await endStaleCases(owner, { addresses, jobId });
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { type ArthaAddresses, ChallengeStatus } from "../chain/contracts.ts";
import { Phase } from "../abi/enums.ts";
import { getChallenge } from "../chain/get_challenge.ts";
import { getJobChallenges } from "../chain/get_job_challenges.ts";
import { timeoutChallenge } from "../chain/timeout_challenge.ts";
import { releaseChallenge } from "../chain/release_challenge.ts";
import { getDisputeOpenings } from "../chain/get_dispute_openings.ts";
import { readDispute } from "../chain/read_dispute.ts";
import { timeoutDispute } from "../chain/timeout_dispute.ts";
import { expireDispute } from "../chain/expire_dispute.ts";
import { getAttestations } from "../chain/get_attestations.ts";
import { settleAttestations } from "../chain/settle_attestations.ts";
import { ChainCallError } from "../chain/send_contract.ts";
import { getJobNodes } from "../chain/get_job_nodes.ts";
import { getTaskGroup } from "../chain/get_task_group.ts";
import { settleRedundancy } from "../chain/settle_redundancy.ts";
import { readJob } from "../chain/read_job.ts";
import { jobStartBlock } from "../chain/job_start_block.ts";

/** What {@link endStaleCases} did, and the latest deadline of a case it could not end yet. */
export interface CasesEnded {
  ended: number;
  /** Unix seconds after which the cases still open can be ended (absent: none is waiting). */
  openUntil?: number;
}

/**
 * Ends `jobId`'s challenges, disputes and committee attestations whose windows have passed: an
 * unanswered challenge is timed out (the node loses as the rules say), an answered one past its
 * validation window released, a dispute past a missed move timed out, an unresolved one expired,
 * attestations past their window settled. Cases still in their window are left to their parties.
 */
export async function endStaleCases(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex },
): Promise<CasesEnded> {
  const { addresses, jobId } = params;
  const now = (await client.getBlock()).timestamp;
  // The scans start at the job's first block: from block 0, each took a capped log query per
  // 2,000 blocks of a long public chain (tens of thousands on a chain of millions of blocks).
  const fromBlock = await jobStartBlock(client, jobId, (await readJob(client, params)).createdAt);
  const at = { addresses, jobId, fromBlock };
  const out: CasesEnded = { ended: 0 };
  const wait = (deadline: bigint) => {
    out.openUntil = Math.max(out.openUntil ?? 0, Number(deadline));
  };
  // Another party may end a case between the read and the send: that is not a failure.
  const attempt = async (send: () => Promise<unknown>) => {
    try {
      await send();
      out.ended++;
    } catch (e) {
      if (!(e instanceof ChainCallError)) throw e;
    }
  };
  for (const { challengeId } of await getJobChallenges(client, at)) {
    const c = await getChallenge(client, { addresses, challengeId });
    const live = c.status === ChallengeStatus.Open || c.status === ChallengeStatus.Answered;
    if (!live) continue;
    if (now <= c.deadline) {
      wait(c.deadline);
      continue;
    }
    const end = c.status === ChallengeStatus.Open ? timeoutChallenge : releaseChallenge;
    await attempt(() => end(client, { addresses, challengeId }));
  }
  if (addresses.disputes) {
    for (const o of await getDisputeOpenings(client, at)) {
      const d = await readDispute(client, {
        addresses,
        disputeId: o.disputeId,
        openedIn: o.openedIn,
      });
      if (d.phase === Phase.None || d.phase === Phase.Settled) continue;
      if (now <= d.deadline) {
        wait(d.deadline);
        continue;
      }
      const end = d.phase === Phase.Unresolved ? expireDispute : timeoutDispute;
      await attempt(() => end(client, { addresses, disputeId: o.disputeId }));
    }
  }
  for (const { round, targetNode } of await getAttestations(client, at)) {
    await attempt(() => settleAttestations(client, { addresses, jobId, round, targetNode }));
  }
  return out;
}

/**
 * Settles by redundancy every task group of `round` that has a majority and is not settled yet
 * (anyone may); returns how many it settled. The coordinator settles each round as it closes it;
 * the round an abandoned job left open is closed by the abandonment, when no coordinator is left
 * to, and a made-up commit there beside honest mates' was paid unless someone settled it.
 */
export async function settleRoundGroups(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number },
): Promise<number> {
  const { addresses, jobId, round } = params;
  const groups = new Set<number>();
  for (const nodePubkey of await getJobNodes(client, { addresses, jobId })) {
    const group = await getTaskGroup(client, { addresses, jobId, nodePubkey });
    if (group !== 0) groups.add(group);
  }
  let settled = 0;
  for (const group of groups) {
    try {
      await settleRedundancy(client, { addresses, jobId, round, group });
      settled++;
    } catch (e) {
      // No majority, already settled, or settled by another party meanwhile.
      if (!(e instanceof ChainCallError)) throw e;
    }
  }
  return settled;
}
