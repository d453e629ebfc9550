/**
 * Walking UnixFS file DAGs: reassembling bytes in order, within bounds, and listing every block.
 * Blocks come from a `getBlock` that has already verified them against their CIDs.
 *
 * A verified block is only as honest as whoever made it: a dag-pb node may declare any size and
 * link any block any number of times. So a read checks, before the first byte is produced, that
 * the root's declared size is within `maxBytes`; every node's declared size must equal its own
 * data plus its links' declared sizes (a link repeated n times counts n times), every child must
 * hold exactly what its parent declares for it, fan-out and depth are bounded, and one read
 * fetches a bounded number of blocks. Bytes are produced block by block, never all at once.
 *
 * @module
 */
import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import { CHUNK_SIZE, type CID, DAG_PB_CODE, RAW_CODE } from "./cid.ts";
import { blockKey } from "./blockstore.ts";

/** Fetches one verified block. */
export type GetBlock = (cid: CID) => Promise<Uint8Array>;

/** Most links a file node may have (IPFS's importers write at most 174; kubo can be set higher). */
export const MAX_FILE_LINKS = 1024;
/** Deepest file DAG read (a balanced 174-ary DAG of 256 KiB leaves is 1.3 TB at depth 3). */
export const MAX_DAG_DEPTH = 16;
/** Largest block accepted (IPFS's bitswap limit is 2 MiB; the importer writes 256 KiB). */
export const MAX_BLOCK_BYTES = 2 << 20;

/** Thrown when a verified block is not part of a well-formed UnixFS file (e.g. a directory). */
export class InvalidDagError extends Error {
  /** Stable error code. */
  readonly code = "DAG_INVALID";
  /** CID of the offending node. */
  readonly cid: string;
  /** @param cid node @param reason what is wrong */
  constructor(cid: CID, reason: string, options?: ErrorOptions) {
    super(`Cannot read ${cid}: ${reason}`, options);
    this.name = "InvalidDagError";
    this.cid = cid.toString();
  }
}

/** Thrown before any byte is read when a file declares more bytes than the reader allows. */
export class DagTooLargeError extends Error {
  /** Stable error code. */
  readonly code = "DAG_TOO_LARGE";
  /** The file's root. */
  readonly cid: string;
  /** What it declares. */
  readonly size: bigint;
  /** The limit. */
  readonly maxBytes: number;
  /** @param details root, declared size, limit */
  constructor(details: { cid: CID; size: bigint; maxBytes: number }, options?: ErrorOptions) {
    super(
      `Cannot read ${details.cid}: it declares ${details.size} bytes, more than the ${details.maxBytes} allowed`,
      options,
    );
    this.name = "DagTooLargeError";
    this.cid = details.cid.toString();
    this.size = details.size;
    this.maxBytes = details.maxBytes;
  }
}

/** Bounds of one read. */
export interface ReadLimits {
  /** Largest declared file size read. */
  maxBytes: number;
  /** Most blocks fetched, repeats included. Default {@link defaultMaxBlocks}(maxBytes). */
  maxBlocks?: number;
}

/** Twice the blocks a 256 KiB-chunked file of `maxBytes` has, plus slack for tiny files. */
export function defaultMaxBlocks(maxBytes: number): number {
  return 2 * Math.ceil(maxBytes / CHUNK_SIZE) + 64;
}

/** A file whose root was read and checked; `chunks` produces its bytes in order. */
export interface OpenedFile {
  /** Declared (and, as it streams, enforced) size in bytes. */
  size: number;
  chunks: AsyncGenerator<Uint8Array>;
}

interface FileNode {
  data: Uint8Array;
  links: CID[];
  /** Declared content size of each link, in link order. */
  sizes: bigint[];
  size: bigint;
}

/**
 * Reads and checks the root; the returned generator yields the bytes, fetching (and prefetching)
 * one block at a time.
 *
 * @throws {DagTooLargeError} | {InvalidDagError} | what `getBlock` throws
 */
export async function openFile(
  getBlock: GetBlock,
  root: CID,
  limits: ReadLimits,
): Promise<OpenedFile> {
  const maxBlocks = limits.maxBlocks ?? defaultMaxBlocks(limits.maxBytes);
  let fetched = 0;
  const budgeted: GetBlock = (cid) => {
    if (++fetched > maxBlocks) {
      return Promise.reject(
        new InvalidDagError(cid, `the file needs more than ${maxBlocks} blocks`),
      );
    }
    return getBlock(cid);
  };
  const node = decodeNode(root, await budgeted(root));
  if (node.size > BigInt(limits.maxBytes)) {
    throw new DagTooLargeError({ cid: root, size: node.size, maxBytes: limits.maxBytes });
  }
  return { size: Number(node.size), chunks: readNode(budgeted, root, node, 0) };
}

/** Blocks fetched ahead of the one being yielded, per DAG node. */
const PREFETCH = 16;

async function* readNode(
  getBlock: GetBlock,
  cid: CID,
  node: FileNode,
  depth: number,
): AsyncGenerator<Uint8Array, bigint> {
  if (node.links.length > 0 && depth >= MAX_DAG_DEPTH) {
    throw new InvalidDagError(cid, `deeper than ${MAX_DAG_DEPTH} levels`);
  }
  let produced = BigInt(node.data.length);
  if (node.data.length > 0) yield node.data;
  const pending: Promise<Uint8Array>[] = [];
  const fetch = (i: number) => {
    const p = getBlock(node.links[i]!);
    p.catch(() => {}); // observed below; avoid unhandled rejections for abandoned prefetches
    pending.push(p);
  };
  for (let i = 0; i < Math.min(PREFETCH, node.links.length); i++) fetch(i);
  for (let i = 0; i < node.links.length; i++) {
    if (i + PREFETCH < node.links.length) fetch(i + PREFETCH);
    const child = node.links[i]!;
    const childNode = decodeNode(child, await pending[i]!);
    pending[i] = Promise.resolve(new Uint8Array()); // free the block
    if (childNode.size !== node.sizes[i]) {
      const why = `link ${i} declares ${node.sizes[i]} bytes but ${child} holds ${childNode.size}`;
      throw new InvalidDagError(cid, why);
    }
    produced += yield* readNode(getBlock, child, childNode, depth + 1);
  }
  if (produced !== node.size) {
    throw new InvalidDagError(cid, `children hold ${produced} bytes, node declares ${node.size}`);
  }
  return produced;
}

function decodeNode(cid: CID, block: Uint8Array): FileNode {
  if (block.length > MAX_BLOCK_BYTES) {
    throw new InvalidDagError(cid, `block of ${block.length} bytes exceeds ${MAX_BLOCK_BYTES}`);
  }
  if (cid.code === RAW_CODE) {
    return { data: block, links: [], sizes: [], size: BigInt(block.length) };
  }
  if (cid.code !== DAG_PB_CODE) throw new InvalidDagError(cid, "codec is not raw or dag-pb");
  let node: dagPb.PBNode;
  let fs: UnixFS;
  let declared: bigint | undefined;
  try {
    node = dagPb.decode(block);
    if (!node.Data) throw new Error("dag-pb node has no UnixFS data");
    fs = UnixFS.unmarshal(node.Data);
    declared = declaredFileSize(node.Data);
  } catch (cause) {
    throw new InvalidDagError(cid, "not a UnixFS node", { cause });
  }
  if (fs.type !== "file" && fs.type !== "raw") {
    throw new InvalidDagError(cid, `UnixFS ${fs.type} is not a file`);
  }
  const links = node.Links.map((l) => l.Hash);
  if (links.length > MAX_FILE_LINKS) {
    throw new InvalidDagError(cid, `${links.length} links, more than ${MAX_FILE_LINKS}`);
  }
  if (fs.blockSizes.length !== links.length) {
    const why = `${links.length} links but ${fs.blockSizes.length} block sizes`;
    throw new InvalidDagError(cid, why);
  }
  if (fs.blockSizes.some((s) => s < 1n)) {
    throw new InvalidDagError(cid, "a link declares an empty child");
  }
  const data = fs.data ?? new Uint8Array();
  const size = fs.blockSizes.reduce((a, b) => a + b, BigInt(data.length));
  if (declared !== undefined && declared !== size) {
    const why = `declares ${declared} bytes, its data and links hold ${size}`;
    throw new InvalidDagError(cid, why);
  }
  return { data, links, sizes: fs.blockSizes, size };
}

/**
 * The `filesize` field (3) of a UnixFS Data message, which `UnixFS.unmarshal` drops (it recomputes
 * the size from the block sizes): the size the node's writer declared.
 */
function declaredFileSize(message: Uint8Array): bigint | undefined {
  let at = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = message[at++];
      if (byte === undefined) throw new RangeError("truncated varint");
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
    throw new RangeError("varint too long");
  };
  let found: bigint | undefined;
  while (at < message.length) {
    const tag = varint();
    const wire = Number(tag & 7n);
    if (wire === 0) {
      const value = varint();
      if (tag >> 3n === 3n) found = value;
    } else if (wire === 2) {
      const length = Number(varint()); // read before `at` is: varint() moves it
      at += length;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new RangeError(`wire type ${wire}`);
  }
  if (at > message.length) throw new RangeError("truncated field");
  return found;
}

/** Children of a file node, or of a UnixFS directory (model folders are pinned as directories). */
function dagLinks(cid: CID, block: Uint8Array): CID[] {
  if (cid.code === DAG_PB_CODE) {
    try {
      const node = dagPb.decode(block);
      if (node.Data && UnixFS.unmarshal(node.Data).type === "directory") {
        return node.Links.map((l) => l.Hash);
      }
    } catch {
      // not a directory: decodeNode below reports what is wrong
    }
  }
  return decodeNode(cid, block).links;
}

/**
 * Yields every distinct CID of the DAG under `root` (root first), reading only dag-pb nodes. A
 * block linked many times is visited once, so the walk costs at most the blocks that exist.
 */
export async function* walkDag(getBlock: GetBlock, root: CID): AsyncGenerator<CID> {
  const stack = [root];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const cid = stack.pop()!;
    const key = blockKey(cid);
    if (seen.has(key)) continue;
    seen.add(key);
    yield cid;
    if (cid.code === RAW_CODE) continue;
    const links = dagLinks(cid, await getBlock(cid));
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i]!);
  }
}
