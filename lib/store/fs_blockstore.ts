/**
 * Filesystem {@link Blockstore}: the default SVDB backend.
 *
 * Layout under `root`: `blocks/<shard>/<key>` where `key` is the block's CIDv1 (codec and
 * multihash) in base32 and `shard` its next-to-last two characters (like go-ipfs flatfs),
 * `pins/<cid>` (empty files), `leases/<cid>` (the expiry in ms, as text) and `LAYOUT`. Blocks
 * are written to a temp file and renamed, so a crash leaves at most a `.tmp-*` file that
 * {@link FsBlockstore.removeTemporary} deletes, never a half-written block. A store written
 * before blocks were keyed by codec is upgraded when opened (see `_fs_legacy.ts`).
 *
 * @module
 */
import { type CID, parseCid } from "./cid.ts";
import {
  blockKey,
  BlockNotFoundError,
  type Blockstore,
  cidFromBlockKey,
  type Lease,
} from "./blockstore.ts";
import { TEMP_PREFIX, writeFileAtomic } from "./atomic.ts";
import { fileSpool, type Spool, SPOOL_MAX_IDLE_MS, SPOOL_PREFIX } from "./spool.ts";
import { legacyBlockFiles, migrateLegacyBlocks } from "./_fs_legacy.ts";

/** Contents of `LAYOUT`: blocks keyed by CIDv1 (codec and multihash). */
const LAYOUT = "codec-keys\n";

/** Options of {@link FsBlockstore.open}. */
export interface FsBlockstoreOptions {
  /** fsync every block before publishing it (durable across power loss). Default true. */
  sync?: boolean;
}

/**
 * Blocks as files.
 *
 * @example
 * ```ts
 * import { FsBlockstore } from "./fs_blockstore.ts";
 * import { Store } from "./store.ts";
 * const dir = await Deno.makeTempDir();
 * const store = new Store(await FsBlockstore.open(dir));
 * const cid = await store.put(new TextEncoder().encode("hello world\n"));
 * console.assert(new TextDecoder().decode(await store.get(cid)) === "hello world\n");
 * await store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class FsBlockstore implements Blockstore {
  /** Root directory. */
  readonly root: string;
  readonly #sync: boolean;

  private constructor(root: string, options: FsBlockstoreOptions) {
    this.root = root;
    this.#sync = options.sync ?? true;
  }

  /** Opens (creating if needed, upgrading an old layout) a store rooted at `root`. */
  static async open(root: string, options: FsBlockstoreOptions = {}): Promise<FsBlockstore> {
    for (const dir of ["blocks", "pins", "leases"]) {
      await Deno.mkdir(`${root}/${dir}`, { recursive: true });
    }
    const store = new FsBlockstore(root, options);
    const layout = await Deno.readTextFile(`${root}/LAYOUT`).catch(() => undefined);
    if (layout !== LAYOUT) {
      await store.withLock(true, async () => {
        const legacy = await legacyBlockFiles(`${root}/blocks`);
        if (legacy.size > 0) await migrateLegacyBlocks(store, legacy);
        await writeFileAtomic(`${root}/LAYOUT`, new TextEncoder().encode(LAYOUT));
      });
    }
    return store;
  }

  #path(cid: CID): { dir: string; path: string } {
    const key = blockKey(cid);
    const dir = `${this.root}/blocks/${key.slice(-3, -1)}`;
    return { dir, path: `${dir}/${key}` };
  }

  /**
   * Runs `fn` under an advisory lock on `root/.lock` (flock): other processes' puts hold it
   * shared, gc exclusive, so a gc never deletes the blocks of a put still running elsewhere.
   */
  async withLock<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    const file = await Deno.open(`${this.root}/.lock`, { read: true, write: true, create: true });
    try {
      await file.lock(exclusive);
      return await fn();
    } finally {
      file.close(); // releases the lock
    }
  }

  /** Where uploads are spooled before their import (lib/store/spool.ts). */
  get spoolDir(): string {
    return `${this.root}/spool`;
  }

  /** A spool in a file of {@link spoolDir}. */
  openSpool(): Promise<Spool> {
    return fileSpool(this.spoolDir);
  }

  /** Writes the block unless it is already there. */
  async put(cid: CID, bytes: Uint8Array): Promise<void> {
    const { dir, path } = this.#path(cid);
    if (await exists(path)) return;
    await Deno.mkdir(dir, { recursive: true });
    // Blocks keep the durability they had (data synced, folder not): a folder fsync per block
    // would add a journal commit to every write of a round's updates. The worker's state and
    // key files, whose loss costs stake, sync their folder too.
    await writeFileAtomic(path, bytes, { sync: this.#sync, syncFolder: false });
  }

  /** Reads the block. @throws {BlockNotFoundError} */
  async get(cid: CID): Promise<Uint8Array> {
    try {
      return await Deno.readFile(this.#path(cid).path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) throw new BlockNotFoundError(cid, { cause: err });
      throw err;
    }
  }

  /** Whether the block file exists. */
  has(cid: CID): Promise<boolean> {
    return exists(this.#path(cid).path);
  }

  /** Deletes the block file if present. */
  async delete(cid: CID): Promise<void> {
    await Deno.remove(this.#path(cid).path).catch(ignoreNotFound);
  }

  /** Every stored block (temp files skipped; keys are CIDv1 strings, "b…"). */
  async *blocks(): AsyncIterable<CID> {
    for await (const shard of Deno.readDir(`${this.root}/blocks`)) {
      if (!shard.isDirectory) continue;
      for await (const entry of Deno.readDir(`${this.root}/blocks/${shard.name}`)) {
        if (entry.isFile && entry.name.startsWith("b")) yield cidFromBlockKey(entry.name);
      }
    }
  }

  /** Records a pin root as an empty file named by the CID. */
  async putPin(cid: CID): Promise<void> {
    await Deno.writeFile(`${this.root}/pins/${cid}`, new Uint8Array());
  }

  /** Removes a pin root. */
  async deletePin(cid: CID): Promise<void> {
    await Deno.remove(`${this.root}/pins/${cid}`).catch(ignoreNotFound);
  }

  /** Every pin root. */
  async *pins(): AsyncIterable<CID> {
    for await (const entry of Deno.readDir(`${this.root}/pins`)) {
      if (entry.isFile && !entry.name.startsWith(TEMP_PREFIX)) yield parseCid(entry.name);
    }
  }

  /** Records a lease as a file holding its expiry; a later existing expiry is kept. */
  async putLease(cid: CID, expiresAt: number): Promise<void> {
    const path = `${this.root}/leases/${cid}`;
    const existing = await readExpiry(path);
    if (existing !== undefined && existing >= expiresAt) return;
    const text = new TextEncoder().encode(String(Math.floor(expiresAt)));
    await writeFileAtomic(path, text, { sync: this.#sync, syncFolder: false });
  }

  /** Removes a lease. */
  async deleteLease(cid: CID): Promise<void> {
    await Deno.remove(`${this.root}/leases/${cid}`).catch(ignoreNotFound);
  }

  /** Every lease (an unreadable lease file counts as expired). */
  async *leases(): AsyncIterable<Lease> {
    for await (const entry of Deno.readDir(`${this.root}/leases`)) {
      if (!entry.isFile || entry.name.startsWith(TEMP_PREFIX)) continue;
      const expiresAt = await readExpiry(`${this.root}/leases/${entry.name}`);
      yield { cid: parseCid(entry.name), expiresAt: expiresAt ?? 0 };
    }
  }

  /**
   * Deletes temp files left by interrupted writes that are older than `minAgeMs`
   * (default one minute, so writes in flight are spared).
   *
   * @returns how many files were removed
   */
  async removeTemporary(minAgeMs = 60_000): Promise<number> {
    let removed = 0;
    const cutoff = Date.now() - minAgeMs;
    const dirs = [`${this.root}/leases`];
    for await (const shard of Deno.readDir(`${this.root}/blocks`)) {
      if (shard.isDirectory) dirs.push(`${this.root}/blocks/${shard.name}`);
    }
    const stale = async (dir: string, prefix: string, before: number) => {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.name.startsWith(prefix)) continue;
        const info = await Deno.stat(`${dir}/${entry.name}`).catch(() => null);
        if (info && (info.mtime?.getTime() ?? 0) <= before) {
          await Deno.remove(`${dir}/${entry.name}`).catch(ignoreNotFound);
          removed++;
        }
      }
    };
    for (const dir of dirs) await stale(dir, TEMP_PREFIX, cutoff);
    // Spools fill outside the lock, so one in use may be any age since its last write: only a
    // day's silence (a crashed process's) marks one left behind.
    await stale(this.spoolDir, SPOOL_PREFIX, Date.now() - Math.max(minAgeMs, SPOOL_MAX_IDLE_MS))
      .catch(ignoreNotFound);
    return removed;
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function readExpiry(path: string): Promise<number | undefined> {
  const text = await Deno.readTextFile(path).catch(() => undefined);
  const ms = Number(text);
  return text === undefined || !Number.isFinite(ms) ? undefined : ms;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function ignoreNotFound(err: unknown): void {
  if (!(err instanceof Deno.errors.NotFound)) throw err;
}
