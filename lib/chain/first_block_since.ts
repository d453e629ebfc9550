/** The first block of the chain at or after a time, found by bisection over block timestamps. */
import type { ArthaClient } from "./client.ts";

/**
 * The number of the first block whose timestamp is at least `timestamp` (unix seconds), or the
 * head's number plus one when none is yet: about log2(head) block reads, whatever the chain's
 * block time.
 *
 * @example
 * ```ts ignore
 * const from = await firstBlockSince(client, now - 3_600n); // the last hour's blocks
 * ```
 */
export async function firstBlockSince(client: ArthaClient, timestamp: bigint): Promise<bigint> {
  const head = await client.getBlock();
  if (head.timestamp < timestamp) return head.number! + 1n;
  let lo = 0n, hi = head.number!;
  while (lo < hi) {
    const mid = (lo + hi) / 2n;
    const block = await client.getBlock({ blockNumber: mid });
    if (block.timestamp >= timestamp) hi = mid;
    else lo = mid + 1n;
  }
  return lo;
}
