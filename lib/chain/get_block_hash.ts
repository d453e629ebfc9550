/**
 * A block's number and hash: the latest one (the coordinator anchoring a secure round's graph
 * seed), or a given one (a worker checking that seed against its own chain).
 */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";

/** The block `blockNumber` (default: the latest), never served from viem's cache. */
export async function getBlockHash(
  client: ArthaClient,
  params: { blockNumber?: bigint } = {},
): Promise<{ number: bigint; hash: Hex }> {
  const block = params.blockNumber === undefined
    ? await client.getBlock({ blockTag: "latest" })
    : await client.getBlock({ blockNumber: params.blockNumber });
  return { number: block.number, hash: block.hash };
}
