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

/**
 * Most blocks one log query spans: public RPCs refuse wider ones (their caps run from about 2,000
 * to 10,000 blocks), so a range with a `toBlock` is read in parts.
 */
export const LOG_QUERY_BLOCKS = 2_000n;

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
  const from = params.fromBlock ?? 0n;
  const logs = [];
  if (params.toBlock === undefined) logs.push(...await read(from));
  for (let at = from; params.toBlock !== undefined && at <= params.toBlock;) {
    const end = at + LOG_QUERY_BLOCKS - 1n < params.toBlock
      ? at + LOG_QUERY_BLOCKS - 1n
      : params.toBlock;
    logs.push(...await read(at, end));
    at = end + 1n;
  }
  return logs.map((l) => ({ challengeId: l.args.challengeId!, issuedIn: l.blockNumber! }));
}
