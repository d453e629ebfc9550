/**
 * Which transaction of an account used a nonce, read from the chain's blocks (not from a node's
 * transaction index, which a replica behind a load balancer may not have yet): what tells a
 * transaction that can never land (another one took its nonce) from one whose receipt is late.
 */
import { type Hex, isAddressEqual } from "viem";
import type { ArthaClient } from "./client.ts";

/** Blocks back from the head a nonce's taker is looked for (a node keeps ~128 blocks' state). */
const TAKER_LOOKBACK = 128n;

/**
 * The hash of the account's transaction of `nonce`, which the state at `head` has used: the block
 * whose state first counts it is found by galloping back from the head, then bisecting.
 */
export async function nonceTaker(
  client: ArthaClient,
  nonce: number,
  head: bigint,
): Promise<Hex | undefined> {
  const address = client.account.address;
  const usedAt = async (block: bigint) =>
    block < 0n ? 0 : await client.getTransactionCount({ address, blockNumber: block });
  let hi = head, step = 1n, lo = head - step; // the nonce is used at `hi`; at `lo`, to be seen
  while (await usedAt(lo) > nonce) {
    if (head - lo >= TAKER_LOOKBACK) return undefined;
    hi = lo;
    step *= 2n;
    lo = hi - step;
  }
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (await usedAt(mid) > nonce) hi = mid;
    else lo = mid;
  }
  const block = await client.getBlock({ blockNumber: hi, includeTransactions: true });
  const tx = block.transactions.find((t) => t.nonce === nonce && isAddressEqual(t.from, address));
  return tx?.hash.toLowerCase() as Hex | undefined;
}
