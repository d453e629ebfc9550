/**
 * The DataAccessed audit trail GET /did/access answers with, from an index this coordinator keeps
 * in KV: every DataAccessed event of the registry, read once, forward from where the last read
 * ended, at most {@link ACCESS_SCAN_PARTS} log queries a request and one scan at a time.
 *
 * Found in the DID audit: each anonymous GET /did/access scanned the whole chain from block 0 for
 * its pair, 2,000 blocks a query (about 5,000 RPC calls a request on a 10-million-block chain),
 * and answered every event a grantee had padded the trail with.
 *
 * @module
 */
import type { Hex } from "viem";
import { type DataAccess, getDataAccessLog } from "../chain/get_data_access_log.ts";
import { LOG_QUERY_BLOCKS, logRanges } from "../chain/log_ranges.ts";
import type { Context } from "./context.ts";

/** Log queries one request may spend catching the index up (100,000 blocks). */
export const ACCESS_SCAN_PARTS = 50;
/** Most events of one dataset and grantee an answer lists (the oldest first). */
export const MAX_ACCESS_EVENTS = 1_000;

/**
 * Keys under the chain and registry they index: found reviewing the index, a KV kept across a
 * chain reset or a redeployment answered the old chain's trail, and read the new one only from
 * where the old had got to.
 */
const deployment = (ctx: Context): Deno.KvKey => [
  ctx.chain.chainId,
  ctx.chain.addresses.dids.toLowerCase(),
];
const cursorKey = (ctx: Context): Deno.KvKey => ["did_access_scan", ...deployment(ctx)];
const entryPrefix = (ctx: Context, datasetId: Hex, granteeDid: Hex): Deno.KvKey => [
  "did_access",
  ...deployment(ctx),
  datasetId.toLowerCase(),
  granteeDid.toLowerCase(),
];

/** The scan under way for each context: concurrent requests wait for it, never start another. */
const scans = new WeakMap<Context, Promise<bigint>>();

/** The audit trail of one dataset and grantee, and how far the index has read the chain. */
export interface AccessTrail {
  audit: DataAccess[];
  /** True when the answer lists only the first {@link MAX_ACCESS_EVENTS} events. */
  truncated: boolean;
  /** The last block read: events after it are not listed yet. */
  scannedTo: bigint;
  /** Whether the index has read the chain up to its head as of this request. */
  complete: boolean;
}

/** The DataAccessed events of (`datasetId`, `granteeDid`), after a bounded catch-up. */
export async function accessTrail(
  ctx: Context,
  datasetId: Hex,
  granteeDid: Hex,
  options: { parts?: number } = {},
): Promise<AccessTrail> {
  const head = await ctx.chain.client.getBlockNumber();
  const next = await catchUp(ctx, head, options.parts ?? ACCESS_SCAN_PARTS);
  const entries = ctx.kv.list<DataAccess>(
    { prefix: entryPrefix(ctx, datasetId, granteeDid) },
    { limit: MAX_ACCESS_EVENTS + 1 },
  );
  const audit = (await Array.fromAsync(entries)).map((e) => e.value);
  const truncated = audit.length > MAX_ACCESS_EVENTS;
  return {
    audit: audit.slice(0, MAX_ACCESS_EVENTS),
    truncated,
    scannedTo: next - 1n,
    complete: next > head,
  };
}

/** Reads at most `parts` log queries toward `head`; the first block not yet read. */
function catchUp(ctx: Context, head: bigint, parts: number): Promise<bigint> {
  const running = scans.get(ctx);
  if (running) return running;
  const scan = scanParts(ctx, head, parts).finally(() => scans.delete(ctx));
  scans.set(ctx, scan);
  return scan;
}

async function scanParts(ctx: Context, head: bigint, parts: number): Promise<bigint> {
  let next = (await ctx.kv.get<bigint>(cursorKey(ctx))).value ?? 0n;
  // A cursor past the head: the chain was reset under the same id and address (a devnet's
  // deterministic deployment); its trail is read again from the start.
  if (next > head + 1n) next = await forgetTrail(ctx);
  const end = next + LOG_QUERY_BLOCKS * BigInt(parts) - 1n;
  for (const [fromBlock, toBlock] of logRanges(next, end < head ? end : head)) {
    const { client, addresses } = ctx.chain;
    let events;
    try {
      events = await getDataAccessLog(client, { addresses, fromBlock, toBlock });
    } catch (e) {
      // Found reviewing the index: one range the RPC refused (too many results, say) threw for
      // every request of every pair. What is indexed is answered, marked incomplete.
      console.error(`did access: blocks ${fromBlock}-${toBlock} not read:`, (e as Error).message);
      break;
    }
    // Each event under its own key first, the cursor after: a scan cut short reads its part
    // again and writes the same keys, never skips one.
    for (const e of events) {
      if (!e.datasetId || !e.granteeDid || e.block === null || e.logIndex === null) continue;
      await ctx.kv.set([...entryPrefix(ctx, e.datasetId, e.granteeDid), e.block, e.logIndex], e);
    }
    next = toBlock + 1n;
    await ctx.kv.set(cursorKey(ctx), next);
  }
  return next;
}

/** Deletes the indexed trail of this deployment and its cursor; the next block to read: 0. */
async function forgetTrail(ctx: Context): Promise<bigint> {
  const prefix: Deno.KvKey = ["did_access", ...deployment(ctx)];
  for await (const e of ctx.kv.list({ prefix })) await ctx.kv.delete(e.key);
  await ctx.kv.delete(cursorKey(ctx));
  return 0n;
}
