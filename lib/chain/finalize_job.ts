import { parseEventLogs } from "viem";
import type { Address, Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { preflightContract, sendContract, type SendResult } from "./send_contract.ts";

export interface NodeReward {
  nodePubkey: Hex;
  operator: Address;
  batchReward: bigint;
  stepReward: bigint;
  roundReward: bigint;
  accuracyBonus: bigint;
  total: bigint;
}

/** Nodes settled per transaction: ~80k gas each keeps a batch far below a 30M-gas block. */
export const FINALIZE_BATCH = 150;

/**
 * Runs the job's next settlement batch as a call, sending nothing: inside the settlement delay,
 * with cases open or once settled it fails as the transaction would (a ChainCallError naming
 * PoC__SettlementDelay, PoC__CasesOpen, PoC__AlreadyFinalized).
 *
 * @example
 * ```ts ignore
 * await preflightFinalizeJob(client, { addresses, jobId });
 * ```
 */
export function preflightFinalizeJob(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex },
): Promise<void> {
  return preflightContract(client, {
    address: params.addresses.proofs,
    abi: abis.proofs,
    functionName: "finalizeBatch",
    args: [params.jobId, BigInt(FINALIZE_BATCH)],
  });
}

/**
 * Settles a completed job: credits every node's reward and refunds the rest to the owner, in
 * batches of `batchSize` nodes (ProofOfCompute.finalizeBatch) until it is done. Gas is summed.
 */
export async function finalizeJob(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; batchSize?: number },
): Promise<SendResult & { rewards: NodeReward[]; refund: bigint; transactions: number }> {
  const rewards: NodeReward[] = [];
  let refund = 0n;
  let gasUsed = 0n;
  let transactions = 0;
  for (;;) {
    const sent = await sendContract(client, {
      address: params.addresses.proofs,
      abi: abis.proofs,
      functionName: "finalizeBatch",
      args: [params.jobId, BigInt(params.batchSize ?? FINALIZE_BATCH)],
    });
    gasUsed += sent.gasUsed;
    transactions++;
    let done = false;
    for (const log of parseEventLogs({ abi: abis.proofs, logs: sent.receipt.logs })) {
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
        done = true;
      }
    }
    if (done) return { ...sent, gasUsed, rewards, refund, transactions };
  }
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
