/**
 * A node's rewards: what a finalized job credited to it, what its operator may withdraw, and the
 * withdrawal (`deno task worker withdraw`). Rewards are credited to the operator account when a
 * job is finalized and pulled from AIJobManager, never pushed.
 *
 * @example
 * ```ts ignore
 * import { jobReward, withdrawAll } from "./rewards.ts";
 * const { reward, claimable } = await jobReward(client, { addresses, jobId, nodePubkey });
 * if (claimable > 0n) await withdrawAll(client, { addresses });
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { withdrawRewards } from "../chain/finalize_job.ts";
import { getClaimable } from "../chain/get_claimable.ts";
import { getJobSettlement } from "../chain/get_job_settlement.ts";

/** A node's reward from one job and what its operator may withdraw now (wei). */
export interface JobReward {
  /** 0 when the job is not finalized or paid this node nothing. */
  reward: bigint;
  claimable: bigint;
}

/** What `jobId` credited to `nodePubkey`, and the operator's claimable balance. */
export async function jobReward(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; nodePubkey: Hex },
): Promise<JobReward> {
  const { addresses, jobId } = params;
  const settled = await getJobSettlement(client, { addresses, jobId });
  const mine =
    settled?.rewards.filter((r) =>
      r.nodePubkey.toLowerCase() === params.nodePubkey.toLowerCase()
    ) ?? [];
  const reward = mine.reduce((sum, r) => sum + r.total, 0n);
  return { reward, claimable: await getClaimable(client, { addresses }) };
}

/** Withdraws everything claimable by the client's account; returns the amount (0: nothing). */
export async function withdrawAll(
  client: ArthaClient,
  params: { addresses: ArthaAddresses },
): Promise<{ amount: bigint; hash?: Hex }> {
  const claimable = await getClaimable(client, params);
  if (claimable === 0n) return { amount: 0n };
  const { amount, hash } = await withdrawRewards(client, params);
  return { amount, hash };
}
