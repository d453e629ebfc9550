/** The challenges issued to a node, from VerificationManager's ChallengeIssued events. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** Ids of every challenge issued to `nodePubkey` since `fromBlock` (default 0), oldest first. */
export async function getChallengeIds(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; nodePubkey: Hex; fromBlock?: bigint },
): Promise<bigint[]> {
  const logs = await client.getContractEvents({
    address: params.addresses.verification,
    abi: abis.verification,
    eventName: "ChallengeIssued",
    args: { nodePubkey: params.nodePubkey },
    fromBlock: params.fromBlock ?? 0n,
  });
  return logs.map((l) => l.args.challengeId!);
}
