/**
 * The SVDB content-addressed store: `put(bytes) -> cid`, `get(cid) -> bytes`, pins, leases and
 * garbage collection over any {@link Blockstore} backend.
 *
 * Every block read is re-hashed and rejected with {@link CidMismatchError} if it does not
 * match its CID, whichever backend (disk, memory, IPFS peers) it came from. Files are read within
 * bounds (see `_dag.ts`): a DAG that declares more than `maxFileBytes`, or whose sizes do not add
 * up, is refused before its first byte, and `cat`/`open` stream it one block at a time.
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
import { BlockNotFoundError, type Blockstore, type Lease } from "./blockstore.ts";
import { FsBlockstore, type FsBlockstoreOptions } from "./fs_blockstore.ts";
import { InvalidDagError, type OpenedFile, openFile, type ReadLimits, walkDag } from "./_dag.ts";
import { type GcResult, sweep } from "./_sweep.ts";
import { RwLock } from "./_rw_lock.ts";
import { memorySpool, type Spool } from "./spool.ts";

export {
  DagTooLargeError,
  InvalidDagError,
  MAX_BLOCK_BYTES,
  MAX_DAG_DEPTH,
  MAX_FILE_LINKS,
  type OpenedFile,
  type ReadLimits,
} from "./_dag.ts";
export type { GcResult } from "./_sweep.ts";

/** Largest file `get`, `cat` and `open` read unless told otherwise (1 GiB). */
export const DEFAULT_MAX_FILE_BYTES = 1 << 30;

/** Options of the {@link Store} constructor. */
export interface StoreOptions extends CidOptions {
  /** Largest declared file size read by default. Default {@link DEFAULT_MAX_FILE_BYTES}. */
  maxFileBytes?: number;
}

/** Options of {@link Store.put}. */
export interface PutOptions extends CidOptions {
  /** Pin the new root so `gc` keeps it. Default true (like `ipfs add`). */
  pin?: boolean;
  /**
   * Lease the root until this time (ms since the epoch): `gc` keeps it until then. A function is
   * called once the content is in: a lease from an upload's start ran out during a slow one, and
   * a gc waiting for the put deleted it before the caller's next step.
   */
  leaseUntil?: number | (() => number);
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
  readonly #maxFileBytes: number;
  readonly #lock = new RwLock();

  /** @param blockstore backend @param options default CID version (1) and read limit */
  constructor(blockstore: Blockstore, options: StoreOptions = {}) {
    this.blockstore = blockstore;
    this.#cidVersion = options.cidVersion ?? 1;
    this.#maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  }

  /**
   * Imports bytes (or a stream of byte chunks) as a UnixFS file and returns its root CID.
   * Blocks are complete on disk before this resolves; the root is pinned unless `pin: false`,
   * and leased when `leaseUntil` is given.
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
      const { leaseUntil } = options;
      if (leaseUntil !== undefined) {
        const until = typeof leaseUntil === "function" ? leaseUntil() : leaseUntil;
        await this.blockstore.putLease(result.cid, until);
      }
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
   * Reads and checks the file's root, then streams its bytes block by block (each verified
   * before it is used). Nothing but the root is read before `chunks` is pulled.
   *
   * @throws {DagTooLargeError} when the root declares more than `maxBytes`
   * @throws {BlockNotFoundError} | {CidMismatchError} | {InvalidDagError} | {InvalidCidError}
   */
  open(cid: CID | string, options: Partial<ReadLimits> = {}): Promise<OpenedFile> {
    const root = parseCid(cid);
    assertSupportedCid(root);
    return openFile((c) => this.getBlock(c), root, this.#limits(options));
  }

  /**
   * Streams the file's bytes in order; every block is verified before it is used.
   *
   * @throws {BlockNotFoundError} | {CidMismatchError} | {InvalidDagError} | {DagTooLargeError}
   */
  async *cat(cid: CID | string, options: Partial<ReadLimits> = {}): AsyncGenerator<Uint8Array> {
    yield* (await this.open(cid, options)).chunks;
  }

  /**
   * The whole file in memory (one buffer of its declared size, at most `maxBytes`).
   *
   * @throws {BlockNotFoundError} | {CidMismatchError} | {InvalidDagError} | {InvalidCidError}
   * @throws {DagTooLargeError} when the file declares more than `maxBytes`
   */
  async get(cid: CID | string, options: Partial<ReadLimits> = {}): Promise<Uint8Array> {
    const { size, chunks } = await this.open(cid, options);
    let out: Uint8Array | undefined;
    let at = 0;
    for await (const part of chunks) {
      if (at + part.length > size) {
        throw new InvalidDagError(parseCid(cid), "more bytes than declared");
      }
      if (at === 0 && part.length === size) {
        out = part; // a single block: no copy
      } else {
        out ??= new Uint8Array(size);
        out.set(part, at);
      }
      at += part.length;
    }
    return out ?? new Uint8Array();
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
   * Pins a root so `gc` keeps its whole DAG. Reads and verifies every inner node and makes sure
   * every leaf is local first (for a networked backend this downloads it).
   *
   * @throws {BlockNotFoundError} when a block of the DAG cannot be found
   */
  async pin(cid: CID | string): Promise<void> {
    const root = parseCid(cid);
    assertSupportedCid(root);
    await this.#shared(async () => {
      // walkDag reads (and so verifies) every dag-pb node; raw leaves are fetched if not local.
      for await (const c of walkDag((c) => this.getBlock(c), root)) {
        if (c.code === RAW_CODE && !(await this.blockstore.has(c))) await this.getBlock(c);
      }
      await this.blockstore.putPin(root);
    });
  }

  /**
   * A spool for a body to import later (lib/store/spool.ts): a file of an fs backend's spool
   * folder, values of a KV backend's database, else memory (a memory backend's). Filling it takes
   * no lock, so a slow sender holds no collection back.
   */
  openSpool(): Promise<Spool> {
    return this.blockstore.openSpool?.() ?? Promise.resolve(memorySpool());
  }

  /** Removes a pin (its blocks go at the next `gc` unless another pin or lease reaches them). */
  async unpin(cid: CID | string): Promise<void> {
    await this.blockstore.deletePin(parseCid(cid));
  }

  /** Current pin roots. */
  async pins(): Promise<CID[]> {
    const out: CID[] = [];
    for await (const c of this.blockstore.pins()) out.push(c);
    return out;
  }

  /** Keeps a stored root until `expiresAt` (ms since the epoch); a later existing lease stays. */
  async lease(cid: CID | string, expiresAt: number): Promise<void> {
    const root = parseCid(cid);
    await this.#shared(() => this.blockstore.putLease(root, expiresAt));
  }

  /** Current leases, expired ones included until the next `gc`. */
  async leases(): Promise<Lease[]> {
    const out: Lease[] = [];
    for await (const l of this.blockstore.leases()) out.push(l);
    return out;
  }

  /**
   * Drops leases expired at `now` (default the wall clock), then deletes every block reachable
   * from neither a pin nor a live lease, and leftovers of interrupted writes. Runs alone: `put`
   * and `pin` wait for it, in this process and (fs backend, through its lock file) in every other
   * process using the same directory.
   */
  gc(options: { now?: number } = {}): Promise<GcResult> {
    const now = options.now ?? Date.now();
    return this.#lock.write(() =>
      this.#held(true, () => sweep(this.blockstore, (c) => this.#getLocal(c), now))
    );
  }

  /**
   * Runs `fn`, which writes blocks and pins straight to the backend (an import this class does
   * not make, such as a directory's), as `put` writes: never alongside a `gc`, which would
   * otherwise delete the blocks written before the pin.
   */
  writing<T>(fn: (blockstore: Blockstore) => Promise<T>): Promise<T> {
    return this.#shared(() => fn(this.blockstore));
  }

  /** Runs a writer of blocks or pins: shared with other writers, never alongside a gc. */
  #shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.#lock.read(() => this.#held(false, fn));
  }

  #held<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    return this.blockstore.withLock ? this.blockstore.withLock(exclusive, fn) : fn();
  }

  #limits(options: Partial<ReadLimits>): ReadLimits {
    return { maxBytes: options.maxBytes ?? this.#maxFileBytes, maxBlocks: options.maxBlocks };
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
  options: StoreOptions & FsBlockstoreOptions = {},
): Promise<Store> {
  return new Store(await FsBlockstore.open(dir, options), options);
}
