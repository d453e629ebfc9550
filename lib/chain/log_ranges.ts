/**
 * Block ranges a log query is split into, so an RPC that caps a query's span serves it. The chain
 * client's transport splits every `eth_getLogs` it sends (lib/chain/client.ts); the verbs that
 * read in parts themselves do so for clients on another transport (a tab's injected wallet).
 */

/**
 * Most blocks one log query spans: public RPCs refuse wider ones (their caps run from about 2,000
 * to 10,000 blocks).
 */
export const LOG_QUERY_BLOCKS = 2_000n;

/**
 * Blocks a scan that goes on from where it stopped reads again at its next look. A reorg can put
 * an event at a height a scan already read, and an RPC behind a load balancer can answer from a
 * replica a block or two behind the head it reported; a cursor set past the head then never saw
 * that event: found auditing the chain client, a worker's challenge moved by a one-block reorg
 * was never answered, and the node was slashed for it. Every scan it applies to is idempotent.
 */
export const RESCAN_BLOCKS = 64n;

/**
 * Where a scan that read through `head` starts its next look: {@link RESCAN_BLOCKS} back, never
 * before `floor` (the first block it could ever need).
 *
 * @example
 * ```ts
 * import { rescanFrom } from "./log_ranges.ts";
 * console.assert(rescanFrom(1_000n, 0n) === 937n);
 * console.assert(rescanFrom(10n, 5n) === 5n);
 * ```
 */
export function rescanFrom(head: bigint, floor: bigint): bigint {
  const back = head + 1n - RESCAN_BLOCKS;
  return back > floor ? back : floor;
}

/**
 * [fromBlock, toBlock] in consecutive parts of at most {@link LOG_QUERY_BLOCKS} blocks (none when
 * the range is empty).
 *
 * @example
 * ```ts
 * import { logRanges } from "./log_ranges.ts";
 * console.assert(logRanges(0n, 4_500n).length === 3);
 * console.assert(logRanges(5n, 4n).length === 0);
 * ```
 */
export function logRanges(fromBlock: bigint, toBlock: bigint): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  for (let at = fromBlock; at <= toBlock; at += LOG_QUERY_BLOCKS) {
    const end = at + LOG_QUERY_BLOCKS - 1n;
    out.push([at, end < toBlock ? end : toBlock]);
  }
  return out;
}

/**
 * The logs `read` returns for [fromBlock, toBlock], read in {@link logRanges} parts when the
 * range has an end (to the head in one query when it has none).
 */
export async function readInParts<T>(
  fromBlock: bigint,
  toBlock: bigint | undefined,
  read: (fromBlock: bigint, toBlock?: bigint) => Promise<T[]>,
): Promise<T[]> {
  if (toBlock === undefined) return await read(fromBlock);
  const out: T[] = [];
  for (const [a, b] of logRanges(fromBlock, toBlock)) out.push(...await read(a, b));
  return out;
}
