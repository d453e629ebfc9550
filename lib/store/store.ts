/**
 * The SVDB content-addressed store: `put(bytes) -> cid`, `get(cid) -> bytes`, pins and
 * garbage collection over any {@link Blockstore} backend.
 *
 * Every block read is re-hashed and rejected with {@link CidMismatchError} if it does not
 * match its CID, whichever backend (disk, memory, IPFS peers) it came from.
 *
 * @module
 */
import {
  assertSupportedCid,
  type CID,
  type CidOptions,
  importerOptions,
  parseCid,
  RAW_CODE,
  verifyBlock,
} from "./cid.ts";
import { importBytes, importByteStream } from "ipfs-unixfs-importer";
import { blockKey, BlockNotFoundError, type Blockstore } from "./blockstore.ts";
import { FsBlockstore, type FsBlockstoreOptions } from "./fs_blockstore.ts";
import { readFile, walkDag } from "./_dag.ts";
import { RwLock } from "./_rw_lock.ts";
import { concatBytes } from "../crypto/digest.ts";

export { InvalidDagError } from "./_dag.ts";

/** Options of {@link Store.put}. */
export interface PutOptions extends CidOptions {
  /** Pin the new root so `gc` keeps it. Default true (like `ipfs add`). */
  pin?: boolean;
}

/** Result of {@link Store.gc}. */
export interface GcResult {
  /** Blocks deleted. */
  removed: number;
  /** Blocks kept (reachable from a pin). */
  kept: number;
}

/**
 * Content-addressed store over a {@link Blockstore}.
 *
 * @example
 * ```ts
 * import { MemoryBlockstore } from "./memory_blockstore.ts";
 * import { Store } from "./store.ts";
 * import { formatArthaUri } from "./cid.ts";
 * const store = new Store(new MemoryBlockstore());
 * const cid = await store.put(new TextEncoder().encode("weights"));
 * console.assert(formatArthaUri(cid).startsWith("artha://bafk"));
 * console.assert(new TextDecoder().decode(await store.get(cid)) === "weights");
 * ```
 */
export class Store {
  /** The backend. */
  readonly blockstore: Blockstore;
  readonly #cidVersion: 0 | 1;
  readonly #lock = new RwLock();

  /** @param blockstore backend @param options default CID version (1) */
  constructor(blockstore: Blockstore, options: CidOptions = {}) {
    this.blockstore = blockstore;
    this.#cidVersion = options.cidVersion ?? 1;
  }

  /**
   * Imports bytes (or a stream of byte chunks) as a UnixFS file and returns its root CID.
   * Blocks are complete on disk before this resolves; the root is pinned unless
   * `pin: false`.
   */
  put(content: Uint8Array | AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<CID> {
    return this.#shared(async () => {
      const opts = importerOptions({ cidVersion: options.cidVersion ?? this.#cidVersion });
      const sink = {
        put: async (cid: CID, bytes: Uint8Array) => {
          await this.blockstore.put(cid, bytes);
          return cid;
        },
      };
      const result = content instanceof Uint8Array
        ? await importBytes(content, sink, opts)
        : await importByteStream(content, sink, opts);
      if (options.pin ?? true) await this.blockstore.putPin(result.cid);
      return result.cid;
    });
  }

  /**
   * One block, verified against its CID.
   *
   * @throws {BlockNotFoundError} when missing
   * @throws {CidMismatchError} when the stored bytes do not match the CID
   */
  async getBlock(cid: CID | string): Promise<Uint8Array> {
    const c = parseCid(cid);
    assertSupportedCid(c);
    const bytes = await this.blockstore.get(c);
    await verifyBlock(c, bytes);
    return bytes;
  }

  /**
   * Streams the file's bytes in order; every block is verified before it is used.
   *
   * @throws {BlockNotFoundError} | {CidMismatchError} | {InvalidDagError}
   */
  cat(cid: CID | string): AsyncGenerator<Uint8Array> {
    const root = parseCid(cid);
    assertSupportedCid(root);
    return readFile((c) => this.getBlock(c), root);
  }

  /**
   * The whole file, reassembled from its DAG.
   *
   * @throws {BlockNotFoundError} | {CidMismatchError} | {InvalidDagError} | {InvalidCidError}
   */
  async get(cid: CID | string): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for await (const part of this.cat(cid)) parts.push(part);
    return parts.length === 1 ? parts[0]! : concatBytes(...parts);
  }

  /**
   * Whether every block of the file is stored locally (so `get` works offline). Reads and
   * verifies the inner nodes, only checks presence of raw leaves.
   */
  async has(cid: CID | string): Promise<boolean> {
    const root = parseCid(cid);
    assertSupportedCid(root);
    try {
      for await (const c of walkDag((c) => this.#getLocal(c), root)) {
        if (!(await this.blockstore.has(c))) return false;
      }
      return true;
    } catch (err) {
      if (err instanceof BlockNotFoundError) return false;
      throw err;
    }
  }

  /**
   * Pins a root so `gc` keeps its whole DAG. Fetches and verifies every block first (for
   * a networked backend this downloads it).
   *
   * @throws {BlockNotFoundError} when a block of the DAG cannot be found
   */
  async pin(cid: CID | string): Promise<void> {
    const root = parseCid(cid);
    assertSupportedCid(root);
    await this.#shared(async () => {
      // walkDag reads (and so verifies) every dag-pb node; raw leaves are fetched here.
      for await (const c of walkDag((c) => this.getBlock(c), root)) {
        if (c.code === RAW_CODE) await this.getBlock(c);
      }
      await this.blockstore.putPin(root);
    });
  }

  /** Removes a pin (its blocks go at the next `gc` unless another pin reaches them). */
  async unpin(cid: CID | string): Promise<void> {
    await this.blockstore.deletePin(parseCid(cid));
  }

  /** Current pin roots. */
  async pins(): Promise<CID[]> {
    const out: CID[] = [];
    for await (const c of this.blockstore.pins()) out.push(c);
    return out;
  }

  /**
   * Deletes every block not reachable from a pin, and leftovers of interrupted writes.
   * Runs alone: `put` and `pin` wait for it, in this process and (fs backend, through its lock
   * file) in every other process using the same directory.
   */
  gc(): Promise<GcResult> {
    return this.#lock.write(() =>
      this.#held(true, async () => {
        const live = new Set<string>();
        for await (const pin of this.blockstore.pins()) {
          try {
            for await (const c of walkDag((c) => this.#getLocal(c), pin)) live.add(blockKey(c));
          } catch (err) {
            if (!(err instanceof BlockNotFoundError)) throw err; // incomplete pin: keep what is there
          }
        }
        let removed = 0;
        let kept = 0;
        for await (const c of this.blockstore.blocks()) {
          if (live.has(blockKey(c))) {
            kept++;
          } else {
            await this.blockstore.delete(c);
            removed++;
          }
        }
        await this.blockstore.removeTemporary?.();
        return { removed, kept };
      })
    );
  }

  /** Runs a writer of blocks or pins: shared with other writers, never alongside a gc. */
  #shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.#lock.read(() => this.#held(false, fn));
  }

  #held<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    return this.blockstore.withLock ? this.blockstore.withLock(exclusive, fn) : fn();
  }

  /** Closes the backend. */
  close(): Promise<void> {
    return this.blockstore.close();
  }

  async #getLocal(cid: CID): Promise<Uint8Array> {
    if (!(await this.blockstore.has(cid))) throw new BlockNotFoundError(cid);
    return await this.getBlock(cid);
  }
}

/**
 * Opens the default filesystem-backed store rooted at `dir`.
 *
 * @example
 * ```ts
 * import { openFsStore } from "./store.ts";
 * const dir = await Deno.makeTempDir();
 * const store = await openFsStore(dir);
 * const cid = await store.put(new Uint8Array(10));
 * console.assert(await store.has(cid));
 * await store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openFsStore(
  dir: string,
  options: CidOptions & FsBlockstoreOptions = {},
): Promise<Store> {
  return new Store(await FsBlockstore.open(dir, options), options);
}
