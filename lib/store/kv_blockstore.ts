/**
 * Deno KV {@link Blockstore}: the SVDB where there is no writable filesystem (Deno Deploy).
 *
 * Layout under `prefix` (default `["svdb"]`, so the SVDB can share the coordinator's database):
 * - `block, <key>` → the head `{ version, size, chunks, sha256 }`: a block is stored iff its
 *   head is (`key` is the CIDv1 of its codec and multihash, as in the fs store);
 * - `chunk, <key>, <version>, <i>` → the block's bytes in {@link KV_CHUNK_BYTES} pieces (KV's
 *   value limit);
 * - `pending, <version>` → `{ key, version, chunks, startedAt }` while a block too large for one
 *   commit is being written;
 * - `pin, <cid>` → true; `lease, <cid>` → the expiry in ms; `lock, …` → see `_kv_lock.ts`.
 *
 * A reader never sees half a block: chunks go under a fresh version, and the head naming that
 * version is published last, atomically, and only if no head is there yet. A block of at most
 * {@link CHUNKS_PER_COMMIT} chunks (every block `ipfs add` makes) is written with its head in one
 * commit. A larger one (up to `MAX_BLOCK_BYTES`, 2 MiB) needs several, since one commit holds at
 * most 800 KiB: the first records a pending marker, each checks the marker is still there, the
 * last publishes the head and drops the marker. A writer that dies in between leaves chunks no
 * head names, listed by their marker, which {@link KvBlockstore.removeTemporary} (run by gc)
 * deletes. Of two writers of one block, the first head wins and the other drops its chunks.
 * Every read checks the bytes against the head's size and SHA-256 (a chunk lost or damaged
 * in the database); the {@link Store} on top checks them against the CID.
 *
 * @module
 */
import { type CID, CidMismatchError, parseCid } from "./cid.ts";
import {
  blockKey,
  BlockNotFoundError,
  type Blockstore,
  cidFromBlockKey,
  type Lease,
} from "./blockstore.ts";
import { MAX_BLOCK_BYTES } from "./_dag.ts";
import { KvRwLock } from "./_kv_lock.ts";
import { kvSpool, removeStaleKvSpools, type Spool } from "./spool.ts";

/** Bytes per chunk: the largest value Deno KV stores (64 KiB). */
export const KV_CHUNK_BYTES = 65_536;
/** Largest total size (keys and values) of one atomic commit in Deno KV (800 KiB). */
export const KV_MAX_COMMIT_BYTES = 819_200;
/** Chunks written per commit: what fits in one, less one chunk's room for keys and the head. */
export const CHUNKS_PER_COMMIT = Math.floor(KV_MAX_COMMIT_BYTES / KV_CHUNK_BYTES) - 1;
/** Most keys one `getMany` reads in Deno KV. */
const KV_MAX_GET_MANY = 10;
/** How often a put starts over when gc reaps its chunks before it publishes them. */
const PUT_ATTEMPTS = 3;
/** Default age after which a pending write counts as abandoned (as the fs store's temp files). */
const ABANDONED_AFTER_MS = 60_000;

const BLOCK = "block";
const CHUNK = "chunk";
const PENDING = "pending";
const PIN = "pin";
const LEASE = "lease";
const LOCK = "lock";

/** What a block's head records: where its chunks are and what they must add up to. */
interface Head {
  version: string;
  size: number;
  chunks: number;
  sha256: Uint8Array;
}

/** A write of more than one commit, until its head is published. */
interface Pending {
  key: string;
  version: string;
  chunks: number;
  startedAt: number;
}

/** Options of {@link KvBlockstore}. */
export interface KvBlockstoreOptions {
  /** First parts of every key, to share a database. Default `["svdb"]`. */
  prefix?: Deno.KvKey;
  /** Close the database on `close()`. Default false (true from {@link KvBlockstore.open}). */
  closeKv?: boolean;
  /** How long a crashed isolate can hold the store lock (renewed while held). Default 30 s. */
  lockTtlMs?: number;
}

/**
 * Blocks in Deno KV, split into 64 KiB chunks published atomically.
 *
 * @example
 * ```ts
 * import { KvBlockstore } from "./kv_blockstore.ts";
 * import { Store } from "./store.ts";
 * const store = new Store(await KvBlockstore.open(":memory:"));
 * const bytes = new Uint8Array(300_000).fill(7); // two 256 KiB-chunk leaves, 64 KiB per value
 * const cid = await store.put(bytes);
 * console.assert((await store.get(cid)).length === 300_000);
 * await store.close();
 * ```
 */
export class KvBlockstore implements Blockstore {
  /** The database. */
  readonly kv: Deno.Kv;
  /** First parts of every key. */
  readonly prefix: Deno.KvKey;
  readonly #closeKv: boolean;
  readonly #lock: KvRwLock;

  /** @param kv an open database @param options key prefix, ownership, lock TTL */
  constructor(kv: Deno.Kv, options: KvBlockstoreOptions = {}) {
    this.kv = kv;
    this.prefix = options.prefix ?? ["svdb"];
    this.#closeKv = options.closeKv ?? false;
    this.#lock = new KvRwLock(kv, [...this.prefix, LOCK], { ttlMs: options.lockTtlMs });
  }

  /** Opens the database at `path` (`:memory:`, a file, or Deno's default) and owns it. */
  static async open(path?: string, options: KvBlockstoreOptions = {}): Promise<KvBlockstore> {
    return new KvBlockstore(await Deno.openKv(path), { closeKv: true, ...options });
  }

  #key(...parts: Deno.KvKeyPart[]): Deno.KvKey {
    return [...this.prefix, ...parts];
  }

  #chunkKey(key: string, version: string, i: number): Deno.KvKey {
    return this.#key(CHUNK, key, version, i);
  }

  /**
   * Runs `fn` under a lock kept in the database, shared with every isolate that opens it: puts
   * hold it shared, gc exclusive, so a gc never deletes the blocks of a put running elsewhere.
   */
  withLock<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    return this.#lock.with(exclusive, fn);
  }

  /**
   * Writes the block unless it is already there.
   *
   * @throws {RangeError} for a block over `MAX_BLOCK_BYTES` (2 MiB, what any reader accepts)
   */
  async put(cid: CID, bytes: Uint8Array): Promise<void> {
    if (bytes.length > MAX_BLOCK_BYTES) {
      throw new RangeError(
        `Cannot put block ${cid}: ${bytes.length} bytes is more than the ${MAX_BLOCK_BYTES} a block may hold`,
      );
    }
    const key = blockKey(cid);
    for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
      if ((await this.kv.get(this.#key(BLOCK, key))).versionstamp !== null) return;
      const head: Head = {
        version: crypto.randomUUID(),
        size: bytes.length,
        chunks: Math.ceil(bytes.length / KV_CHUNK_BYTES),
        sha256: await sha256(bytes),
      };
      if (await this.#write(key, head, bytes)) return;
    }
    throw new Error(
      `Cannot put block ${cid}: gc removed its unfinished chunks ${PUT_ATTEMPTS} times`,
    );
  }

  /** Writes chunks and head; false when gc reaped the chunks as abandoned before the head. */
  async #write(key: string, head: Head, bytes: Uint8Array): Promise<boolean> {
    const headKey = this.#key(BLOCK, key);
    const absent = { key: headKey, versionstamp: null };
    const chunk = (i: number) => bytes.subarray(i * KV_CHUNK_BYTES, (i + 1) * KV_CHUNK_BYTES);
    if (head.chunks <= CHUNKS_PER_COMMIT) {
      const op = this.kv.atomic().check(absent);
      for (let i = 0; i < head.chunks; i++) op.set(this.#chunkKey(key, head.version, i), chunk(i));
      await op.set(headKey, head).commit(); // not ok: another writer published it first
      return true;
    }
    const marker: Pending = {
      key,
      version: head.version,
      chunks: head.chunks,
      startedAt: Date.now(),
    };
    const pendingKey = this.#key(PENDING, head.version);
    let pending: Deno.AtomicCheck = { key: pendingKey, versionstamp: null };
    try {
      for (let from = 0; from < head.chunks; from += CHUNKS_PER_COMMIT) {
        const op = this.kv.atomic().check(pending);
        if (from === 0) op.set(pendingKey, marker);
        for (let i = from; i < Math.min(from + CHUNKS_PER_COMMIT, head.chunks); i++) {
          op.set(this.#chunkKey(key, head.version, i), chunk(i));
        }
        const res = await op.commit();
        if (!res.ok) return false; // gc took the marker for abandoned and removed the chunks
        if (from === 0) pending = { key: pendingKey, versionstamp: res.versionstamp };
      }
      const published = await this.kv.atomic().check(pending).check(absent)
        .set(headKey, head).delete(pendingKey).commit();
      // Not published: another writer was first (drop our chunks: done) or gc reaped ours.
      return published.ok || await this.#dropPending(pending, marker);
    } catch (err) {
      if (pending.versionstamp !== null) await this.#dropPending(pending, marker).catch(() => {});
      throw err;
    }
  }

  /** Deletes an unpublished write (marker and chunks) if its marker is still `check`. */
  async #dropPending(check: Deno.AtomicCheck, marker: Pending): Promise<boolean> {
    const op = this.kv.atomic().check(check).delete(check.key);
    for (let i = 0; i < marker.chunks; i++) {
      op.delete(this.#chunkKey(marker.key, marker.version, i));
    }
    return (await op.commit()).ok;
  }

  /**
   * Reads the block's chunks and checks them against its head.
   *
   * @throws {BlockNotFoundError} when it is not stored (or was deleted while read)
   * @throws {CidMismatchError} when the chunks do not add up to the size and SHA-256 recorded
   */
  async get(cid: CID): Promise<Uint8Array> {
    const key = blockKey(cid);
    const head = (await this.kv.get<Head>(this.#key(BLOCK, key))).value;
    if (head === null) throw new BlockNotFoundError(cid);
    const reads: Promise<Deno.KvEntryMaybe<Uint8Array>[]>[] = [];
    for (let from = 0; from < head.chunks; from += KV_MAX_GET_MANY) {
      const to = Math.min(from + KV_MAX_GET_MANY, head.chunks);
      const keys = Array.from(
        { length: to - from },
        (_, j) => this.#chunkKey(key, head.version, from + j),
      );
      reads.push(this.kv.getMany<Uint8Array[]>(keys));
    }
    const chunks = (await Promise.all(reads)).flat().map((e) => e.value);
    if (chunks.some((c) => c === null)) throw new BlockNotFoundError(cid); // deleted meanwhile
    const bytes = chunks.length === 1 ? chunks[0]! : concat(chunks as Uint8Array[]);
    const digest = await sha256(bytes);
    if (bytes.length !== head.size || !equal(digest, head.sha256)) {
      throw new CidMismatchError({ expected: cid.toString(), actual: hex(digest) });
    }
    return bytes;
  }

  /** Whether the block's head is published. */
  async has(cid: CID): Promise<boolean> {
    return (await this.kv.get(this.#key(BLOCK, blockKey(cid)))).versionstamp !== null;
  }

  /** Deletes head and chunks in one commit, if present. */
  async delete(cid: CID): Promise<void> {
    const key = blockKey(cid);
    for (;;) {
      const entry = await this.kv.get<Head>(this.#key(BLOCK, key));
      const head = entry.value;
      if (head === null) return;
      const op = this.kv.atomic().check(entry).delete(entry.key);
      for (let i = 0; i < head.chunks; i++) op.delete(this.#chunkKey(key, head.version, i));
      if ((await op.commit()).ok) return; // else rewritten meanwhile: look again
    }
  }

  /** Every published block (unpublished chunks are not blocks). */
  async *blocks(): AsyncIterable<CID> {
    for await (const entry of this.kv.list({ prefix: this.#key(BLOCK) })) {
      yield cidFromBlockKey(entry.key[entry.key.length - 1] as string);
    }
  }

  /** Records a pin root. */
  async putPin(cid: CID): Promise<void> {
    await this.kv.set(this.#key(PIN, cid.toString()), true);
  }

  /** Removes a pin root. */
  async deletePin(cid: CID): Promise<void> {
    await this.kv.delete(this.#key(PIN, cid.toString()));
  }

  /** Every pin root. */
  async *pins(): AsyncIterable<CID> {
    for await (const entry of this.kv.list({ prefix: this.#key(PIN) })) {
      yield parseCid(entry.key[entry.key.length - 1] as string);
    }
  }

  /** Records a lease; a later existing expiry is kept (compare-and-set, so races keep the max). */
  async putLease(cid: CID, expiresAt: number): Promise<void> {
    const key = this.#key(LEASE, cid.toString());
    for (;;) {
      const entry = await this.kv.get<number>(key);
      if (entry.value !== null && entry.value >= expiresAt) return;
      if ((await this.kv.atomic().check(entry).set(key, expiresAt).commit()).ok) return;
    }
  }

  /** Removes a lease. */
  async deleteLease(cid: CID): Promise<void> {
    await this.kv.delete(this.#key(LEASE, cid.toString()));
  }

  /** Every lease, expired or not. */
  async *leases(): AsyncIterable<Lease> {
    for await (const entry of this.kv.list<number>({ prefix: this.#key(LEASE) })) {
      yield { cid: parseCid(entry.key[entry.key.length - 1] as string), expiresAt: entry.value };
    }
  }

  /** A spool in this database (lib/store/spool.ts), not in the isolate's memory. */
  openSpool(): Promise<Spool> {
    return kvSpool(this.kv, this.prefix);
  }

  /**
   * Deletes the chunks of writes that never published their head and started more than
   * `minAgeMs` ago (default one minute, so writes in flight are spared), and spools a crashed
   * process left (a day unwritten).
   *
   * @returns how many abandoned writes and spools were removed
   */
  async removeTemporary(minAgeMs = ABANDONED_AFTER_MS): Promise<number> {
    const cutoff = Date.now() - minAgeMs;
    let removed = await removeStaleKvSpools(this.kv, this.prefix);
    for await (const entry of this.kv.list<Pending>({ prefix: this.#key(PENDING) })) {
      if (entry.value.startedAt <= cutoff && await this.#dropPending(entry, entry.value)) removed++;
    }
    return removed;
  }

  /** Closes the database if this store opened it (or was told to). */
  close(): Promise<void> {
    if (this.#closeKv) this.kv.close();
    return Promise.resolve();
  }
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
