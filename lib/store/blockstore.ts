/**
 * The one storage interface every SVDB backend implements, plus the error for a block
 * that is not there.
 *
 * Blocks are keyed by codec and multihash ({@link blockKey}): the CIDv0 and CIDv1 of one dag-pb
 * block share a key, but a block stored as raw bytes is never found under a dag-pb CID. Keying by
 * hash alone would let anyone who may upload a raw blob have it read back as a dag-pb node that
 * links to whatever it likes (one 256 KiB leaf linked 100 times, that node linked 4 times, …).
 * Backends store and return raw bytes; the {@link Store} on top verifies every block it reads
 * against its CID.
 *
 * @module
 */
import type { Spool } from "./spool.ts";
import { base32 } from "multiformats/bases/base32";
import { CID } from "./cid.ts";

/** A root kept until `expiresAt` (ms since the epoch), then collected unless pinned. */
export interface Lease {
  cid: CID;
  expiresAt: number;
}

/** Where blocks, pins and leases live. */
export interface Blockstore {
  /** Stores a block under its codec and multihash. Writing an existing block is a no-op. */
  put(cid: CID, bytes: Uint8Array): Promise<void>;
  /** Returns the block's bytes as stored (unverified). @throws {BlockNotFoundError} */
  get(cid: CID): Promise<Uint8Array>;
  /** Whether the block is stored locally (under this CID's codec). */
  has(cid: CID): Promise<boolean>;
  /** Deletes the block if present. */
  delete(cid: CID): Promise<void>;
  /** Every stored block, as the CIDv1 of its codec and multihash. */
  blocks(): AsyncIterable<CID>;
  /** Records a pin root. */
  putPin(cid: CID): Promise<void>;
  /** Removes a pin root if present. */
  deletePin(cid: CID): Promise<void>;
  /** Every pin root. */
  pins(): AsyncIterable<CID>;
  /** Records a lease on a root; an existing later expiry is kept. */
  putLease(cid: CID, expiresAt: number): Promise<void>;
  /** Removes a lease if present. */
  deleteLease(cid: CID): Promise<void>;
  /** Every lease, expired or not. */
  leases(): AsyncIterable<Lease>;
  /** Releases resources (files, peers). */
  close(): Promise<void>;
  /** Deletes leftovers of interrupted writes older than `minAgeMs`; returns the count. */
  removeTemporary?(minAgeMs?: number): Promise<number>;
  /** A spool for a body to import later, kept where this backend keeps its data (spool.ts). */
  openSpool?(): Promise<Spool>;
  /**
   * Runs `fn` holding a lock shared with every process that opens the same backing store:
   * shared for writers of blocks and pins, exclusive for gc. Backends private to one process
   * leave it out.
   */
  withLock?<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T>;
}

/** Thrown when a block is neither stored locally nor (for networked backends) found. */
export class BlockNotFoundError extends Error {
  /** Stable error code. */
  readonly code = "BLOCK_NOT_FOUND";
  /** The missing block's CID. */
  readonly cid: string;
  /** @param cid the missing CID */
  constructor(cid: CID | string, options?: ErrorOptions) {
    super(`Cannot get block ${cid}: not in the store`, options);
    this.name = "BlockNotFoundError";
    this.cid = cid.toString();
  }
}

/**
 * The storage key of a block: its CIDv1 (codec and multihash) in lowercase base32, safe as a
 * file name on case-insensitive file systems. A CIDv0 and its CIDv1 share a key; the raw and
 * dag-pb CIDs of the same bytes do not.
 *
 * @example
 * ```ts
 * import { blockKey } from "./blockstore.ts";
 * import { CID, parseCid, RAW_CODE } from "./cid.ts";
 * const v0 = parseCid("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
 * console.assert(blockKey(v0) === blockKey(v0.toV1()));
 * console.assert(blockKey(v0) !== blockKey(CID.createV1(RAW_CODE, v0.multihash)));
 * ```
 */
export function blockKey(cid: CID): string {
  return cid.toV1().toString(base32);
}

/**
 * Inverse of {@link blockKey}: the CIDv1 the key names.
 *
 * @example
 * ```ts
 * import { blockKey, cidFromBlockKey } from "./blockstore.ts";
 * import { parseCid } from "./cid.ts";
 * const cid = parseCid("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
 * console.assert(cidFromBlockKey(blockKey(cid)).equals(cid));
 * ```
 */
export function cidFromBlockKey(key: string): CID {
  return CID.parse(key, base32);
}

/**
 * The multihash of a block in base32, whatever its codec: what gc compares, so it never deletes
 * bytes some live CID needs, even in a backend that keys by hash alone.
 *
 * @example
 * ```ts
 * import { multihashKey } from "./blockstore.ts";
 * import { CID, parseCid, RAW_CODE } from "./cid.ts";
 * const v0 = parseCid("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
 * console.assert(multihashKey(v0) === multihashKey(CID.createV1(RAW_CODE, v0.multihash)));
 * ```
 */
export function multihashKey(cid: CID): string {
  return base32.baseEncode(cid.multihash.bytes);
}
