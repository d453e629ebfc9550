/** The challenges issued to a node, from VerificationManager's ChallengeIssued events. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/**
 * Ids of every challenge issued to `nodePubkey` in blocks `fromBlock` (default 0) to `toBlock`
 * (default latest), oldest first.
 */
export async function getChallengeIds(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; nodePubkey: Hex; fromBlock?: bigint; toBlock?: bigint },
): Promise<bigint[]> {
  return (await getIssuedIn(client, params)).map((c) => c.challengeId);
}

/** As {@link getChallengeIds}, with the block each challenge was issued in. */
export async function getIssuedIn(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; nodePubkey: Hex; fromBlock?: bigint; toBlock?: bigint },
): Promise<{ challengeId: bigint; issuedIn: bigint }[]> {
  const logs = await client.getContractEvents({
    address: params.addresses.verification,
    abi: abis.verification,
    eventName: "ChallengeIssued",
    args: { nodePubkey: params.nodePubkey },
    fromBlock: params.fromBlock ?? 0n,
    toBlock: params.toBlock,
  });
  return logs.map((l) => ({ challengeId: l.args.challengeId!, issuedIn: l.blockNumber! }));
}
