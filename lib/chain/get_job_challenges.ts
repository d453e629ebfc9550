/** Every challenge issued on a job, by any verifier, from VerificationManager's ChallengeIssued events. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** One issued challenge: `count` 0 is a step challenge, otherwise the chunks it asks for. */
export interface JobChallenge {
  challengeId: bigint;
  nodePubkey: Hex;
  round: number;
  count: number;
}

/** The challenges of `jobId` issued in blocks `fromBlock` to `toBlock` (default 0 to latest). */
export async function getJobChallenges(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; fromBlock?: bigint; toBlock?: bigint },
): Promise<JobChallenge[]> {
  const logs = await client.getContractEvents({
    address: params.addresses.verification,
    abi: abis.verification,
    eventName: "ChallengeIssued",
    args: { jobId: params.jobId },
    fromBlock: params.fromBlock ?? 0n,
    toBlock: params.toBlock,
  });
  return logs.map((l) => ({
    challengeId: l.args.challengeId!,
    nodePubkey: l.args.nodePubkey!.toLowerCase() as Hex,
    round: l.args.round!,
    count: l.args.count!,
  }));
}
