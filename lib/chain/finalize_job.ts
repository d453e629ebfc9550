import { parseEventLogs } from "viem";
import type { Address, Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./_send.ts";

export interface NodeReward {
  nodePubkey: Hex;
  operator: Address;
  batchReward: bigint;
  stepReward: bigint;
  roundReward: bigint;
  accuracyBonus: bigint;
  total: bigint;
}

/** Settles a completed job: credits every node's reward and refunds the rest to the owner. */
export async function finalizeJob(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex },
): Promise<SendResult & { rewards: NodeReward[]; refund: bigint }> {
  const sent = await sendContract(client, {
    address: params.addresses.proofs,
    abi: abis.proofs,
    functionName: "finalize",
    args: [params.jobId],
  });
  const logs = parseEventLogs({ abi: abis.proofs, logs: sent.receipt.logs });
  const rewards: NodeReward[] = [];
  let refund = 0n;
  for (const log of logs) {
    if (log.eventName === "RewardCredited") {
      const a = log.args;
      rewards.push({
        nodePubkey: a.nodePubkey,
        operator: a.operator,
        batchReward: a.batchReward,
        stepReward: a.stepReward,
        roundReward: a.roundReward,
        accuracyBonus: a.accuracyBonus,
        total: a.batchReward + a.stepReward + a.roundReward + a.accuracyBonus,
      });
    } else if (log.eventName === "JobFinalized") {
      refund = log.args.refund;
    }
  }
  return { ...sent, rewards, refund };
}

/** Pulls everything credited to the client's account out of the job manager. */
export async function withdrawRewards(
  client: ArthaClient,
  params: { addresses: ArthaAddresses },
): Promise<SendResult & { amount: bigint }> {
  const amount = await client.readContract({
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "claimableOf",
    args: [client.account.address],
  });
  const sent = await sendContract(client, {
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "withdraw",
    args: [],
  });
  return { ...sent, amount };
}
