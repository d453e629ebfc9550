/** The chunks a challenged node revealed in answer to a challenge (ChunkRevealed events). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** Every chunk revealed for `challengeId`, in log order. */
export async function getRevealedChunks(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; challengeId: bigint; fromBlock?: bigint },
): Promise<{ chunkIndex: number; chunk: Hex }[]> {
  const logs = await client.getContractEvents({
    address: params.addresses.verification,
    abi: abis.verification,
    eventName: "ChunkRevealed",
    args: { challengeId: params.challengeId },
    fromBlock: params.fromBlock ?? 0n,
  });
  return logs.map((l) => ({ chunkIndex: Number(l.args.chunkIndex!), chunk: l.args.chunk! }));
}
