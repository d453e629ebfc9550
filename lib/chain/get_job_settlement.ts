/**
 * A finalized job's settlement as the chain recorded it: the JobFinalized event (total paid,
 * refund, its transaction) and every RewardCredited event of the job. A coordinator that
 * crashed inside finalize, or finalized in several batches, reconciles its record from here
 * instead of from what its own last call returned.
 */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import type { NodeReward } from "./finalize_job.ts";

/** What {@link getJobSettlement} returns for a finalized job. */
export interface JobSettlement {
  /** The transaction that emitted JobFinalized (the last batch). */
  txHash: Hex;
  paid: bigint;
  refund: bigint;
  rewards: NodeReward[];
  /** The improvement reported before finalizing, if any (AccuracyReported). */
  improvementBps?: number;
}

/**
 * Reads the settlement of `jobId` from events since block 0; `undefined` while the job is not
 * finalized on chain.
 *
 * @example
 * ```ts ignore
 * const s = await getJobSettlement(client, { addresses, jobId });
 * if (s) console.log(s.paid, s.refund, s.rewards.length);
 * ```
 */
export async function getJobSettlement(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex },
): Promise<JobSettlement | undefined> {
  const { addresses, jobId } = params;
  const args = { jobId };
  const [finalized] = await client.getContractEvents({
    address: addresses.proofs,
    abi: abis.proofs,
    eventName: "JobFinalized",
    args,
    fromBlock: 0n,
  });
  if (!finalized) return undefined;
  const credited = await client.getContractEvents({
    address: addresses.proofs,
    abi: abis.proofs,
    eventName: "RewardCredited",
    args,
    fromBlock: 0n,
  });
  // The last report is the one settlement read: the coordinator reports at the last close and
  // again at finalize, and reportAccuracy reverts once the job is finalized.
  const accuracy = (await client.getContractEvents({
    address: addresses.jobs,
    abi: abis.jobs,
    eventName: "AccuracyReported",
    args,
    fromBlock: 0n,
  })).at(-1);
  return {
    txHash: finalized.transactionHash,
    paid: finalized.args.paid!,
    refund: finalized.args.refund!,
    rewards: credited.map((e) => rewardOf(e.args as Required<typeof e.args>)),
    improvementBps: accuracy?.args.improvementBps,
  };
}

function rewardOf(a: Omit<NodeReward, "total">): NodeReward {
  const total = a.batchReward + a.stepReward + a.roundReward + a.accuracyBonus;
  return {
    nodePubkey: a.nodePubkey,
    operator: a.operator,
    batchReward: a.batchReward,
    stepReward: a.stepReward,
    roundReward: a.roundReward,
    accuracyBonus: a.accuracyBonus,
    total,
  };
}
