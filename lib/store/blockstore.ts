/**
 * The one storage interface every SVDB backend implements, plus the error for a block
 * that is not there.
 *
 * Blocks are keyed by multihash (like IPFS), so the CIDv0 and CIDv1 of the same bytes
 * share one block. Backends store and return raw bytes; the {@link Store} on top verifies
 * every block it reads against its CID.
 *
 * @module
 */
import { base32 } from "multiformats/bases/base32";
import { CID, RAW_CODE } from "./cid.ts";

/** Where blocks and pins live. */
export interface Blockstore {
  /** Stores a block. Writing an existing block is a no-op. */
  put(cid: CID, bytes: Uint8Array): Promise<void>;
  /** Returns the block's bytes as stored (unverified). @throws {BlockNotFoundError} */
  get(cid: CID): Promise<Uint8Array>;
  /** Whether the block is stored locally. */
  has(cid: CID): Promise<boolean>;
  /** Deletes the block if present. */
  delete(cid: CID): Promise<void>;
  /** Every stored block, as a CIDv1 raw CID of its multihash (codec is not stored). */
  blocks(): AsyncIterable<CID>;
  /** Records a pin root. */
  putPin(cid: CID): Promise<void>;
  /** Removes a pin root if present. */
  deletePin(cid: CID): Promise<void>;
  /** Every pin root. */
  pins(): AsyncIterable<CID>;
  /** Releases resources (files, peers). */
  close(): Promise<void>;
  /** Deletes leftovers of interrupted writes older than `minAgeMs`; returns the count. */
  removeTemporary?(minAgeMs?: number): Promise<number>;
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
 * The storage key of a block: its multihash in lowercase base32 (no multibase prefix),
 * safe as a file name on case-insensitive file systems.
 *
 * @example
 * ```ts
 * import { blockKey } from "./blockstore.ts";
 * import { parseCid } from "./cid.ts";
 * const v0 = parseCid("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
 * console.assert(blockKey(v0) === blockKey(v0.toV1()));
 * ```
 */
export function blockKey(cid: CID): string {
  return base32.baseEncode(cid.multihash.bytes);
}

/**
 * Inverse of {@link blockKey}: a CIDv1 raw CID with that multihash.
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
  const mh = base32.baseDecode(key);
  return CID.createV1(RAW_CODE, decodeMultihash(mh));
}

function decodeMultihash(bytes: Uint8Array) {
  // Reuse the CID decoder: a CIDv1 is <version><codec><multihash>.
  const prefixed = new Uint8Array(bytes.length + 2);
  prefixed[0] = 0x01;
  prefixed[1] = RAW_CODE;
  prefixed.set(bytes, 2);
  return CID.decode(prefixed).multihash;
}
