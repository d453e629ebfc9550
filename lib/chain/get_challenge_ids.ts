/** The challenges issued to a node, from VerificationManager's ChallengeIssued events. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { readInParts } from "./log_ranges.ts";

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
  const read = (fromBlock: bigint, toBlock?: bigint) =>
    client.getContractEvents({
      address: params.addresses.verification,
      abi: abis.verification,
      eventName: "ChallengeIssued",
      args: { nodePubkey: params.nodePubkey },
      fromBlock,
      toBlock,
    });
  // In parts with a known end: an RPC capping a log query's span refused the whole range.
  const logs = await readInParts(params.fromBlock ?? 0n, params.toBlock, read);
  return logs.map((l) => ({ challengeId: l.args.challengeId!, issuedIn: l.blockNumber! }));
}
