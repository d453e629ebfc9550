/**
 * In-memory {@link Blockstore} for tests and short-lived tools.
 *
 * @module
 */
import type { CID } from "./cid.ts";
import {
  blockKey,
  BlockNotFoundError,
  type Blockstore,
  cidFromBlockKey,
  type Lease,
} from "./blockstore.ts";
import { parseCid } from "./cid.ts";

/**
 * Blocks, pins and leases in maps. Stored bytes are copies, so callers may reuse buffers.
 *
 * @example
 * ```ts
 * import { MemoryBlockstore } from "./memory_blockstore.ts";
 * import { Store } from "./store.ts";
 * const store = new Store(new MemoryBlockstore());
 * const cid = await store.put(new Uint8Array([1, 2, 3]));
 * console.assert((await store.get(cid)).length === 3);
 * ```
 */
export class MemoryBlockstore implements Blockstore {
  readonly #blocks = new Map<string, Uint8Array>();
  readonly #pins = new Set<string>();
  readonly #leases = new Map<string, number>();

  /** Stores a copy of the block. */
  put(cid: CID, bytes: Uint8Array): Promise<void> {
    const key = blockKey(cid);
    if (!this.#blocks.has(key)) this.#blocks.set(key, bytes.slice());
    return Promise.resolve();
  }

  /** Returns a copy of the stored bytes. @throws {BlockNotFoundError} */
  get(cid: CID): Promise<Uint8Array> {
    const bytes = this.#blocks.get(blockKey(cid));
    return bytes ? Promise.resolve(bytes.slice()) : Promise.reject(new BlockNotFoundError(cid));
  }

  /** Whether the block is stored. */
  has(cid: CID): Promise<boolean> {
    return Promise.resolve(this.#blocks.has(blockKey(cid)));
  }

  /** Deletes the block. */
  delete(cid: CID): Promise<void> {
    this.#blocks.delete(blockKey(cid));
    return Promise.resolve();
  }

  /** Every stored block. */
  async *blocks(): AsyncIterable<CID> {
    for (const key of [...this.#blocks.keys()]) yield cidFromBlockKey(key);
  }

  /** Records a pin root. */
  putPin(cid: CID): Promise<void> {
    this.#pins.add(cid.toString());
    return Promise.resolve();
  }

  /** Removes a pin root. */
  deletePin(cid: CID): Promise<void> {
    this.#pins.delete(cid.toString());
    return Promise.resolve();
  }

  /** Every pin root. */
  async *pins(): AsyncIterable<CID> {
    for (const s of [...this.#pins]) yield parseCid(s);
  }

  /** Records a lease, keeping a later existing expiry. */
  putLease(cid: CID, expiresAt: number): Promise<void> {
    const key = cid.toString();
    this.#leases.set(key, Math.max(expiresAt, this.#leases.get(key) ?? -Infinity));
    return Promise.resolve();
  }

  /** Removes a lease. */
  deleteLease(cid: CID): Promise<void> {
    this.#leases.delete(cid.toString());
    return Promise.resolve();
  }

  /** Every lease. */
  async *leases(): AsyncIterable<Lease> {
    for (const [s, expiresAt] of [...this.#leases]) yield { cid: parseCid(s), expiresAt };
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
