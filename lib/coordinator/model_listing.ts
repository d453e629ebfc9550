/**
 * The models a coordinator lists (GET /v1/models, /rpc ai_models): its own jobs' model folders,
 * then every CID published in ModelRegistry, in order of first publication, a page at a time.
 *
 * Found in the inference audit: every listing returned every publication (100k publications were
 * 17.8 MB and 0.7 s of CPU a GET), kept every event read for good, junk included, asked the chain
 * for its head on every GET through a promise chain that queued without bound, scanned from
 * block 0 in one query the transport split into 2,000-block parts (one failed part lost them
 * all), and showed whoever published a CID first as its only owner. Now the index is built
 * incrementally, a part at a time (a failure keeps the parts read), holds one row per CID with
 * every model that published it, and the chain head is read at most every
 * {@link HEAD_REFRESH_MS}, one read at a time.
 *
 * @module
 */
import type { Hex } from "viem";
import { getPublishedModels, type PublishedModel } from "../chain/get_published_models.ts";
import { logRanges } from "../chain/log_ranges.ts";
import { parseCid } from "../store/cid.ts";
import type { Context } from "./context.ts";
import { listJobFolders } from "./state.ts";
import { canonicalCid } from "./svdb_private.ts";

/** A model publication of a CID. */
export interface ModelPublisher {
  modelId?: Hex;
  version?: string;
  weightsDigest?: Hex;
}

/** A servable model as the listings show it: one row per CID. */
export interface ModelListing {
  cid: string;
  /** The first publication's model, version and digest. */
  modelId?: string;
  version?: string;
  weightsDigest?: string;
  /** The job whose model folder this is (kind "job-folder"). */
  jobId?: string;
  kind: "published" | "job-folder";
  /** Every model that published this CID, first first (at most {@link MAX_PUBLISHERS}). */
  publishers?: ModelPublisher[];
}

/** A page of a listing: rows after `after`, at most `limit` of them. */
export interface ListPage {
  limit?: number;
  /** The CID of the last row of the previous page. */
  after?: string;
}

/** Rows a page holds unless asked for fewer or more, and the most it may hold. */
export const DEFAULT_PAGE_ROWS = 100;
export const MAX_PAGE_ROWS = 1_000;
/** How long a chain head read is used before it is read again. */
export const HEAD_REFRESH_MS = 5_000;
/** Log queries one refresh of the index may spend (100,000 blocks); the rest wait for the next. */
export const LIST_SCAN_PARTS = 50;
/** Most publishers kept per CID: anyone may publish a CID under as many models as they like. */
export const MAX_PUBLISHERS = 16;
/** Longest published string looked at as a CID: parsing a megabyte of junk took milliseconds. */
const MAX_CID_CHARS = 200;

/** Thrown when a page's `after` names no listed model. */
export class UnknownCursorError extends Error {
  constructor(readonly after: string) {
    super(`Cannot list models: "${after.slice(0, 100)}" is no listed model`);
    this.name = "UnknownCursorError";
  }
}

/** The published models read so far. */
interface ModelIndex {
  /** The last block read (-1: none). */
  toBlock: bigint;
  rows: ModelListing[];
  /** Where each CID's row is in `rows`, by its canonical spelling (svdb_private.ts). */
  at: Map<string, number>;
  head?: { block: bigint; readAt: number };
  /** The refresh under way, which every caller waits for rather than queueing another. */
  refreshing?: Promise<void>;
}

const indexes = new WeakMap<Context, ModelIndex>();

function indexOf(ctx: Context): ModelIndex {
  let index = indexes.get(ctx);
  if (!index) indexes.set(ctx, index = { toBlock: -1n, rows: [], at: new Map() });
  return index;
}

/** Brings the index of `ctx` up to the chain head (read at most every {@link HEAD_REFRESH_MS}). */
function refresh(ctx: Context, index: ModelIndex): Promise<void> {
  index.refreshing ??= readNewBlocks(ctx, index).finally(() => index.refreshing = undefined);
  return index.refreshing;
}

async function readNewBlocks(ctx: Context, index: ModelIndex): Promise<void> {
  const { client, addresses } = ctx.chain;
  const now = ctx.now();
  if (!index.head || now - index.head.readAt >= HEAD_REFRESH_MS) {
    index.head = { block: await client.getBlockNumber({ cacheTime: 0 }), readAt: now };
  }
  // Part by part, each kept once read: a failed part is read again next time, not every part.
  // At most LIST_SCAN_PARTS a refresh: found reviewing the index, a fresh process's first GET
  // read a long chain whole (about 5,000 queries at 10 million blocks) before answering.
  const parts = logRanges(index.toBlock + 1n, index.head.block).slice(0, LIST_SCAN_PARTS);
  for (const [fromBlock, toBlock] of parts) {
    for (const m of await getPublishedModels(client, { addresses, fromBlock, toBlock })) {
      addPublication(index, m);
    }
    index.toBlock = toBlock;
  }
}

function addPublication(index: ModelIndex, m: PublishedModel): void {
  // A published string that is no CID (anyone may publish one) names nothing to serve.
  if (typeof m.cid !== "string" || m.cid.length > MAX_CID_CHARS || !isCid(m.cid)) return;
  const publisher = {
    modelId: m.modelId,
    version: m.version?.toString(),
    weightsDigest: m.weightsDigest,
  };
  // One row per content: a CIDv0 and its CIDv1 name the same folder (found reviewing the index:
  // listed as two rows, each with half of its publishers).
  const key = canonicalCid(m.cid);
  const at = index.at.get(key);
  if (at !== undefined) {
    const publishers = index.rows[at]!.publishers!;
    const known = publishers.some((p) => p.modelId === m.modelId);
    if (!known && publishers.length < MAX_PUBLISHERS) publishers.push(publisher);
    return;
  }
  index.at.set(key, index.rows.length);
  index.rows.push({ cid: m.cid, ...publisher, kind: "published", publishers: [publisher] });
}

function isCid(text: string): boolean {
  try {
    parseCid(text);
    return true;
  } catch {
    return false;
  }
}

/** This coordinator's job folders, each once, with the publishers of the same CID if any. */
async function folderRows(ctx: Context, index: ModelIndex): Promise<ModelListing[]> {
  // Its own job folders first, each once: found in the inference audit, anyone's model
  // (publishing is open, and a model's jobId is not checked) listing a job's folder CID
  // replaced the job's row, which then showed the stranger's model as its owner.
  const out = new Map<string, ModelListing>();
  for (const j of await listJobFolders(ctx.kv)) {
    if (out.has(j.cid)) continue;
    const published = index.at.get(canonicalCid(j.cid));
    const publishers = published === undefined ? undefined : index.rows[published]!.publishers;
    out.set(j.cid, { cid: j.cid, jobId: j.jobId, kind: "job-folder", publishers });
  }
  return [...out.values()];
}

/**
 * A page of the listing of `ctx`: job folders, then published CIDs in order of first
 * publication, the `limit` rows after `after` ({@link DEFAULT_PAGE_ROWS}, at most
 * {@link MAX_PAGE_ROWS}). Throws {@link UnknownCursorError} for an `after` nobody listed.
 */
export async function listModels(ctx: Context, page: ListPage = {}): Promise<ModelListing[]> {
  const index = indexOf(ctx);
  await refresh(ctx, index);
  const limit = Math.min(Math.max(1, page.limit ?? DEFAULT_PAGE_ROWS), MAX_PAGE_ROWS);
  const folders = await folderRows(ctx, index);
  const isFolder = new Set(folders.map((f) => canonicalCid(f.cid)));
  let [inFolders, inRows] = [0, 0];
  if (page.after !== undefined) {
    const folder = folders.findIndex((f) => f.cid === page.after);
    const row = index.at.get(canonicalCid(page.after));
    if (folder >= 0) inFolders = folder + 1;
    else if (row !== undefined) [inFolders, inRows] = [folders.length, row + 1];
    else throw new UnknownCursorError(page.after);
  }
  const out = folders.slice(inFolders, inFolders + limit);
  for (let i = inRows; i < index.rows.length && out.length < limit; i++) {
    if (!isFolder.has(canonicalCid(index.rows[i]!.cid))) out.push(index.rows[i]!);
  }
  return out;
}

/** The listing's row of `cid`, or undefined if it lists none. */
export async function getListedModel(
  ctx: Context,
  cid: string,
): Promise<ModelListing | undefined> {
  const index = indexOf(ctx);
  await refresh(ctx, index);
  const key = canonicalCid(cid);
  const folder = (await folderRows(ctx, index)).find((f) => canonicalCid(f.cid) === key);
  const row = index.at.get(key);
  return folder ?? (row === undefined ? undefined : index.rows[row]);
}
