/**
 * Walking UnixFS file DAGs: reassembling bytes in order and listing every block.
 * Blocks come from a `getBlock` that has already verified them against their CIDs.
 *
 * @module
 */
import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import { type CID, DAG_PB_CODE, RAW_CODE } from "./cid.ts";

/** Fetches one verified block. */
export type GetBlock = (cid: CID) => Promise<Uint8Array>;

/** Thrown when a verified block is not part of a UnixFS file (e.g. a directory). */
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

/** Blocks fetched ahead of the one being yielded, per DAG node. */
const PREFETCH = 16;

interface FileNode {
  data: Uint8Array;
  links: CID[];
  size: bigint;
}

function decodeNode(cid: CID, block: Uint8Array): FileNode {
  if (cid.code === RAW_CODE) return { data: block, links: [], size: BigInt(block.length) };
  if (cid.code !== DAG_PB_CODE) throw new InvalidDagError(cid, "codec is not raw or dag-pb");
  let node: dagPb.PBNode;
  let fs: UnixFS;
  try {
    node = dagPb.decode(block);
    if (!node.Data) throw new Error("dag-pb node has no UnixFS data");
    fs = UnixFS.unmarshal(node.Data);
  } catch (cause) {
    throw new InvalidDagError(cid, "not a UnixFS node", { cause });
  }
  if (fs.type !== "file" && fs.type !== "raw") {
    throw new InvalidDagError(cid, `UnixFS ${fs.type} is not a file`);
  }
  return {
    data: fs.data ?? new Uint8Array(),
    links: node.Links.map((l) => l.Hash),
    size: fs.fileSize(),
  };
}

/**
 * Yields the file's bytes in order, prefetching sibling blocks, and checks that every
 * node's children add up to its declared size.
 */
export async function* readFile(getBlock: GetBlock, root: CID): AsyncGenerator<Uint8Array> {
  const node = decodeNode(root, await getBlock(root));
  yield* readNode(getBlock, root, node);
}

async function* readNode(
  getBlock: GetBlock,
  cid: CID,
  node: FileNode,
): AsyncGenerator<Uint8Array, bigint> {
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
    produced += yield* readNode(getBlock, child, childNode);
  }
  if (produced !== node.size) {
    throw new InvalidDagError(cid, `children hold ${produced} bytes, node declares ${node.size}`);
  }
  return produced;
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

/** Yields every CID of the DAG under `root` (root first), reading only dag-pb nodes. */
export async function* walkDag(getBlock: GetBlock, root: CID): AsyncGenerator<CID> {
  const stack = [root];
  while (stack.length > 0) {
    const cid = stack.pop()!;
    yield cid;
    if (cid.code === RAW_CODE) continue;
    const links = dagLinks(cid, await getBlock(cid));
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i]!);
  }
}
