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
import { LOG_QUERY_BLOCKS } from "../chain/log_ranges.ts";
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
  // Fresh: viem keeps a block number read in the last seconds, which misses an access just made.
  const head = await ctx.chain.client.getBlockNumber({ cacheTime: 0 });
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

/** Where the index has read to, on which chain, and how wide its next query is. */
interface Cursor {
  /** The first block not yet read. */
  next: bigint;
  /** The chain's genesis hash: another one means the chain was reset under the same address. */
  genesis: Hex;
  /** Blocks the next query spans: halved after a refusal, doubled back after a success. */
  span: bigint;
  /** Refused queries in a row, from this cursor. */
  fails: number;
}

/** Each context's genesis hash, read once. */
const geneses = new WeakMap<Context, Promise<Hex>>();

function genesisOf(ctx: Context): Promise<Hex> {
  let g = geneses.get(ctx);
  if (!g) {
    g = ctx.chain.client.getBlock({ blockNumber: 0n }).then((b) => b.hash as Hex);
    g.catch(() => geneses.delete(ctx));
    geneses.set(ctx, g);
  }
  return g;
}

async function scanParts(ctx: Context, head: bigint, parts: number): Promise<bigint> {
  const genesis = await genesisOf(ctx);
  const kept = (await ctx.kv.get<Cursor>(cursorKey(ctx))).value;
  // Another genesis: the chain was reset under the same id and address (a devnet's deterministic
  // deployment), and its trail is read again from the start. A head behind the cursor alone is
  // a lagging replica, not a reset (found reviewing the reset check, which took one for the
  // other and threw the whole index away).
  let c: Cursor = kept?.genesis === genesis
    ? kept
    : { next: await forgetTrail(ctx), genesis, span: LOG_QUERY_BLOCKS, fails: 0 };
  for (let part = 0; part < parts && c.next <= head; part++) {
    const last = c.next + c.span - 1n < head ? c.next + c.span - 1n : head;
    c = await scanPart(ctx, c, last);
    await ctx.kv.set(cursorKey(ctx), c);
    if (c.fails > 0) break; // refused: the next request tries a narrower range
  }
  return c.next;
}

/**
 * Reads [c.next, last] into the index; the cursor after it. Found reviewing the index: a range
 * the RPC refused (more results than it returns, which anyone's padding can cause) was asked
 * again as it was at every request, and the index stopped for good. A refused range is halved
 * each time, down to one block (never skipped: a refusal may be an outage, which passes).
 */
async function scanPart(ctx: Context, c: Cursor, last: bigint): Promise<Cursor> {
  const { client, addresses } = ctx.chain;
  let events;
  try {
    events = await getDataAccessLog(client, { addresses, fromBlock: c.next, toBlock: last });
  } catch (e) {
    const why = (e as Error).message.split("\n")[0];
    console.error(`did access: blocks ${c.next}-${last} not read: ${why}`);
    return { ...c, span: (c.span + 1n) / 2n, fails: c.fails + 1 };
  }
  // Each event under its own key first, the cursor after: a scan cut short reads its part again
  // and writes the same keys, never skips one.
  for (const e of events) {
    if (!e.datasetId || !e.granteeDid || e.block === null || e.logIndex === null) continue;
    await ctx.kv.set([...entryPrefix(ctx, e.datasetId, e.granteeDid), e.block, e.logIndex], e);
  }
  const span = c.span * 2n < LOG_QUERY_BLOCKS ? c.span * 2n : LOG_QUERY_BLOCKS;
  return { ...c, next: last + 1n, span, fails: 0 };
}

/** Deletes the indexed trail of this deployment and its cursor; the next block to read: 0. */
async function forgetTrail(ctx: Context): Promise<bigint> {
  const prefix: Deno.KvKey = ["did_access", ...deployment(ctx)];
  for await (const e of ctx.kv.list({ prefix })) await ctx.kv.delete(e.key);
  await ctx.kv.delete(cursorKey(ctx));
  return 0n;
}
