/** The challenge a transaction issued, from its ChallengeIssued event (VerificationManager). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import type { SendResult } from "./send_contract.ts";

/** A challenge as the chain holds it. */
export interface ChallengeInfo {
  challengeId: bigint;
  jobId: Hex;
  nodePubkey: Hex;
  round: number;
  step: number;
  count: number;
  seed: Hex;
  deadline: bigint;
}

/** A challenge just issued, with the gas its transaction used. */
export type IssuedChallenge = ChallengeInfo & { gasUsed: bigint };

/**
 * The challenge `sent` issued: its id and seed exist only once mined, so they are read back from
 * the ChallengeIssued event of the transaction's block.
 */
export async function getIssuedChallenge(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; sent: SendResult },
): Promise<IssuedChallenge> {
  const { addresses, sent } = params;
  const logs = await client.getContractEvents({
    address: addresses.verification,
    abi: abis.verification,
    eventName: "ChallengeIssued",
    blockHash: sent.receipt.blockHash,
  });
  const a = logs.find((l) => l.transactionHash === sent.hash)!.args;
  return {
    challengeId: a.challengeId!,
    jobId: a.jobId!,
    nodePubkey: a.nodePubkey!,
    round: a.round!,
    step: a.step!,
    count: a.count!,
    seed: a.seed!,
    deadline: a.deadline!,
    gasUsed: sent.gasUsed,
  };
}
