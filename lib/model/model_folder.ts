/**
 * Model folders in SVDB as UnixFS directories: the same DAG `ipfs add -r --cid-version=1` builds
 * (256 KiB chunks, balanced layout, raw leaves), so the folder's one CID names every file, and
 * that CID is what ModelRegistry publishes. Reading walks the directory nodes and reassembles each
 * file; every block is hash-checked (locally by Store, over a gateway by this module).
 *
 * @example
 * ```ts
 * import { getModelFolder, putModelFolder } from "./model_folder.ts";
 * import { MemoryBlockstore } from "../store/memory_blockstore.ts";
 * import { Store } from "../store/store.ts";
 * const store = new Store(new MemoryBlockstore());
 * const cid = await putModelFolder(store, { "a.json": new Uint8Array([1]), "onnx/m": new Uint8Array([2]) });
 * const files = await getModelFolder(store, cid);
 * console.assert(files["onnx/m"]?.[0] === 2);
 * ```
 */
import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import { importer } from "ipfs-unixfs-importer";
import {
  type CID,
  computeCid,
  DAG_PB_CODE,
  importerOptions,
  parseCid,
  verifyBlock,
} from "../store/cid.ts";
import type { Store } from "../store/store.ts";
import { readBounded, readPrefix } from "../store/bounded_body.ts";
import { printable } from "../network/printable.ts";
import type { ModelFileChunks, ModelFiles } from "./hf_model.ts";

/** Thrown when a folder's files pass the reader's byte cap (what it is never changes). */
export class FolderTooLargeError extends RangeError {
  readonly code = "FOLDER_TOO_LARGE";
  constructor(readonly cid: string, readonly maxBytes: number) {
    super(`Cannot read folder ${cid}: larger than ${maxBytes} bytes`);
    this.name = "FolderTooLargeError";
  }
}

/** Thrown when a folder is no model folder: a name that is no path segment, too many entries. */
export class InvalidFolderError extends RangeError {
  readonly code = "INVALID_FOLDER";
  constructor(message: string) {
    super(message);
    this.name = "InvalidFolderError";
  }
}

/** Thrown when a CID is not a UnixFS directory (e.g. a bare checkpoint file). */
export class NotAFolderError extends Error {
  readonly code = "NOT_A_FOLDER";
  constructor(readonly cid: string, options?: ErrorOptions) {
    super(`Cannot read folder ${cid}: it is not a UnixFS directory`, options);
    this.name = "NotAFolderError";
  }
}

/**
 * Stores the files as one UnixFS directory, pins it, and returns the directory's CID. A file may
 * be a list of chunks (a model past 2 GiB): the importer streams them, nothing is joined.
 */
export function putModelFolder(store: Store, files: ModelFileChunks): Promise<CID> {
  // Under the store's writer lock, as Store.put imports: a gc in between deleted the blocks
  // written before the pin (found in the storage audit).
  return store.writing(async (blockstore) => {
    const sink = {
      put: async (cid: CID, bytes: Uint8Array) => {
        await blockstore.put(cid, bytes);
        return cid;
      },
    };
    const entries = Object.keys(files).sort().map((path) => ({ path, content: files[path]! }));
    let root: CID | undefined;
    const opts = { ...importerOptions(), wrapWithDirectory: true };
    for await (const entry of importer(entries, sink, opts)) {
      if (entry.path === "") root = entry.cid;
    }
    if (!root) throw new Error("Cannot store folder: the importer returned no root directory");
    await blockstore.putPin(root);
    return root;
  });
}

/** Directory entries of one dag-pb block (name -> CID), or null if it is not a directory. */
export function directoryLinks(cid: CID, block: Uint8Array): Map<string, CID> | null {
  if (cid.code !== DAG_PB_CODE) return null;
  const node = dagPb.decode(block);
  if (!node.Data || UnixFS.unmarshal(node.Data).type !== "directory") return null;
  return new Map(node.Links.map((l) => [l.Name ?? "", l.Hash]));
}

type Source = {
  block(cid: CID): Promise<Uint8Array>;
  file(cid: CID): Promise<Uint8Array>;
};

/**
 * The most entries (directories and files) a folder walk visits. A model folder holds a dozen;
 * a DAG whose directories each link one child under many names is a tree of exponential size to
 * walk, however few its blocks.
 */
export const MAX_FOLDER_ENTRIES = 10_000;

async function readFolder(
  src: Source,
  root: CID,
  maxBytes: number,
  checkFile?: (cid: CID) => Promise<void>,
): Promise<ModelFiles> {
  const files: ModelFiles = {};
  let total = 0;
  let visits = 0;
  const visit = async (cid: CID, prefix: string) => {
    if (++visits > MAX_FOLDER_ENTRIES) {
      throw new InvalidFolderError(
        `Cannot read folder ${root}: more than ${MAX_FOLDER_ENTRIES} entries`,
      );
    }
    const links = directoryLinks(cid, await src.block(cid));
    if (!links) {
      if (prefix === "") throw new NotAFolderError(cid.toString());
      await checkFile?.(cid);
      const bytes = await src.file(cid);
      total += bytes.length;
      if (total > maxBytes) throw new FolderTooLargeError(root.toString(), maxBytes);
      files[prefix.slice(0, -1)] = bytes;
      return;
    }
    for (const [name, child] of links) {
      // A name is one path segment that cannot climb: "." and ".." pass [\w.-]+ and, joined
      // onto the output folder, wrote a coordinator's file over the owner's own (its
      // addresses.json, so its next payment went to the coordinator's contract).
      if (!/^[\w\-][\w.\-]*$/.test(name) || name === "." || name === "..") {
        throw new InvalidFolderError(`Cannot read folder: bad name "${name}"`);
      }
      await visit(child, `${prefix}${name}/`);
    }
  };
  await visit(root, "");
  return files;
}

/** Default cap on a downloaded folder (the reference model is ~2 MB). */
export const MAX_FOLDER_BYTES = 1 << 30;

/**
 * Reads every file of a folder from a local store; `checkFile` may refuse a linked file (throw)
 * before it is read.
 *
 * @throws {NotAFolderError} when the CID is a file; BlockNotFoundError when blocks are missing
 */
export function getModelFolder(
  store: Store,
  cid: CID | string,
  options: { maxBytes?: number; checkFile?: (cid: CID) => Promise<void> } = {},
): Promise<ModelFiles> {
  const src = { block: (c: CID) => store.getBlock(c), file: (c: CID) => store.get(c) };
  const max = options.maxBytes ?? MAX_FOLDER_BYTES;
  return readFolder(src, parseCid(cid), max, options.checkFile);
}

/** Longest one download of a folder's block or file may take, its body included. */
export const FOLDER_REQUEST_TIMEOUT_MS = 10 * 60_000;

/**
 * Downloads a folder from a coordinator's SVDB gateway (`GET /svdb/<cid>?format=raw` for
 * directory blocks, `GET /svdb/<cid>` for files), verifying every block and file against its CID.
 * Each request ends after `timeoutMs` and reads no more than the folder's cap: a gateway that
 * trickled a byte at a time held `job model` for ever, and one that sent an endless body had it
 * read into memory before any size or CID check.
 */
export function fetchModelFolder(
  gateway: string,
  cid: CID | string,
  options: { maxBytes?: number; fetch?: typeof fetch; timeoutMs?: number } = {},
): Promise<ModelFiles> {
  const get = options.fetch ?? fetch;
  const base = gateway.replace(/\/+$/, "");
  const maxBytes = options.maxBytes ?? MAX_FOLDER_BYTES;
  const download = async (c: CID, raw: boolean) => {
    const signal = AbortSignal.timeout(options.timeoutMs ?? FOLDER_REQUEST_TIMEOUT_MS);
    const url = `${base}/svdb/${c}${raw ? "?format=raw" : ""}`;
    let res: Response;
    try {
      res = await get(url, { signal });
    } catch (e) {
      throw new Error(`Cannot reach the gateway ${base}: ${(e as Error).message}`, { cause: e });
    }
    if (!res.ok) {
      const why = printable(await readPrefix(res.body, 300));
      throw new Error(`Cannot download ${c} from ${base}: ${res.status} ${why}`);
    }
    try {
      return await readBounded(res.body, maxBytes);
    } catch (e) {
      throw new Error(`Cannot download ${c} from ${base}: ${(e as Error).message}`, { cause: e });
    }
  };
  const src: Source = {
    block: async (c) => {
      const bytes = await download(c, true);
      await verifyBlock(c, bytes);
      return bytes;
    },
    file: async (c) => {
      const bytes = await download(c, false);
      const actual = await computeCid(bytes, { cidVersion: c.version === 0 ? 0 : 1 });
      if (!actual.equals(c)) throw new Error(`Cannot accept ${c}: the bytes hash to ${actual}`);
      return bytes;
    },
  };
  return readFolder(src, parseCid(cid), maxBytes);
}
