/**
 * A body parked outside the blockstore while it arrives: in a file of the store's spool folder
 * (fs backends), else in memory. An upload is read whole into a spool first and imported from it
 * after, so the store's lock is held for a local import, never for the time a client takes to
 * send: found in the storage audit, one signed upload trickling a byte every 50 s held its put's
 * share of the lock for as long as it liked, and a collection, which runs only once no put is in
 * flight, never ran again (expired leases, refused bodies and released updates piled up until the
 * disk was full).
 *
 * @example
 * ```ts
 * import { openSpool } from "./spool.ts";
 * await using spool = await openSpool();
 * await spool.write(new Uint8Array([1, 2]));
 * await spool.write(new Uint8Array([3]));
 * const out: number[] = [];
 * for await (const chunk of spool.chunks()) out.push(...chunk);
 * console.assert(spool.bytes === 3 && out.join() === "1,2,3");
 * ```
 */

/** A spooled body: written once, then read back any number of times; discarded when done. */
export interface Spool extends AsyncDisposable {
  /** Bytes written so far. */
  readonly bytes: number;
  /** Appends a chunk. */
  write(chunk: Uint8Array): Promise<void>;
  /** The bytes written, in pieces of at most 1 MiB. */
  chunks(): AsyncIterable<Uint8Array>;
  /** Frees it (deletes its file); safe to call twice. */
  discard(): Promise<void>;
}

/** Prefix of spool files, so a collection can tell them (and their age) from anything else. */
export const SPOOL_PREFIX = "spool-";

/** How long a spool may go unwritten before a collection takes it for a crashed process's. */
export const SPOOL_MAX_IDLE_MS = 24 * 3600_000;

const PIECE = 1 << 20;

/**
 * A spool in a file of `dir` when given, else in memory (for a store held in memory anyway).
 * Backends with room of their own open theirs (`Blockstore.openSpool`).
 */
export async function openSpool(dir?: string): Promise<Spool> {
  return dir === undefined ? memorySpool() : await fileSpool(dir);
}

/** A spool in memory. */
export function memorySpool(): Spool {
  let kept: Uint8Array[] = [];
  let bytes = 0;
  const discard = () => {
    kept = [];
    return Promise.resolve();
  };
  return {
    get bytes() {
      return bytes;
    },
    write(chunk) {
      kept.push(chunk.slice()); // the caller may reuse its buffer
      bytes += chunk.length;
      return Promise.resolve();
    },
    async *chunks() {
      for (const chunk of kept) yield chunk;
    },
    discard,
    [Symbol.asyncDispose]: discard,
  };
}

/** A spool in a new file of `dir`, deleted when discarded. */
export async function fileSpool(dir: string): Promise<Spool> {
  await Deno.mkdir(dir, { recursive: true });
  const path = await Deno.makeTempFile({ dir, prefix: SPOOL_PREFIX });
  const file = await Deno.open(path, { write: true });
  let bytes = 0;
  let open = true;
  const discard = async () => {
    if (open) file.close();
    open = false;
    await Deno.remove(path).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  };
  return {
    get bytes() {
      return bytes;
    },
    async write(chunk) {
      for (let done = 0; done < chunk.length;) done += await file.write(chunk.subarray(done));
      bytes += chunk.length;
    },
    async *chunks() {
      using reader = await Deno.open(path, { read: true });
      for (;;) {
        const piece = new Uint8Array(PIECE);
        let filled = 0;
        while (filled < PIECE) {
          const n = await reader.read(piece.subarray(filled));
          if (n === null) break;
          filled += n;
        }
        if (filled > 0) yield piece.subarray(0, filled);
        if (filled < PIECE) return;
      }
    },
    discard,
    [Symbol.asyncDispose]: discard,
  };
}

/** Bytes per value of a KV spool: the largest value Deno KV stores. */
const KV_PIECE = 65_536;

/** What a KV spool's marker holds: when it was last written, for the collection of stale ones. */
export interface KvSpoolMarker {
  touchedAt: number;
}

/**
 * A spool in Deno KV under `prefix`: a marker `[...prefix, "spool", id]` and the body in 64 KiB
 * values `[...prefix, "spool_piece", id, i]`, deleted when discarded (a crashed one by the
 * collection, once its marker is a day old). Where there is no writable filesystem (Deno Deploy),
 * a spool in memory would hold every upload in flight whole in the isolate's memory.
 */
export async function kvSpool(kv: Deno.Kv, prefix: Deno.KvKey): Promise<Spool> {
  const id = crypto.randomUUID();
  const marker = [...prefix, "spool", id];
  const pieceKey = (i: number): Deno.KvKey => [...prefix, "spool_piece", id, i];
  await kv.set(marker, { touchedAt: Date.now() } satisfies KvSpoolMarker);
  let pending = new Uint8Array(KV_PIECE);
  let filled = 0;
  let pieces = 0;
  let bytes = 0;
  let touchedAt = Date.now();
  const flush = async () => {
    if (filled === 0) return;
    await kv.set(pieceKey(pieces++), pending.slice(0, filled));
    filled = 0;
    // Touched hourly while written, so a slow but live upload's spool is never taken for stale.
    if (Date.now() - touchedAt > 3600_000) {
      touchedAt = Date.now();
      await kv.set(marker, { touchedAt } satisfies KvSpoolMarker);
    }
  };
  const discard = async () => {
    await deletePieces(kv, [...prefix, "spool_piece", id]);
    await kv.delete(marker);
  };
  return {
    get bytes() {
      return bytes;
    },
    async write(chunk) {
      for (let at = 0; at < chunk.length;) {
        const n = Math.min(KV_PIECE - filled, chunk.length - at);
        pending.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === KV_PIECE) {
          await flush();
          pending = new Uint8Array(KV_PIECE);
        }
      }
      bytes += chunk.length;
    },
    async *chunks() {
      await flush();
      for (let i = 0; i < pieces; i++) {
        const piece = (await kv.get<Uint8Array>(pieceKey(i))).value;
        if (!piece) throw new Error(`Cannot read spool ${id}: piece ${i} is missing`);
        yield piece;
      }
    },
    discard,
    [Symbol.asyncDispose]: discard,
  };
}

/** Deletes the KV spools under `prefix` not written for {@link SPOOL_MAX_IDLE_MS}; their count. */
export async function removeStaleKvSpools(kv: Deno.Kv, prefix: Deno.KvKey): Promise<number> {
  let removed = 0;
  const cutoff = Date.now() - SPOOL_MAX_IDLE_MS;
  for await (const e of kv.list<KvSpoolMarker>({ prefix: [...prefix, "spool"] })) {
    if (e.value.touchedAt > cutoff) continue;
    const id = e.key.at(-1)!;
    await deletePieces(kv, [...prefix, "spool_piece", id]);
    await kv.delete(e.key);
    removed++;
  }
  return removed;
}

/** Deletes every key under `prefix`, a hundred a commit (a 500 MB body is ~7,600 pieces). */
async function deletePieces(kv: Deno.Kv, prefix: Deno.KvKey): Promise<void> {
  let op = kv.atomic();
  let n = 0;
  for await (const e of kv.list({ prefix })) {
    op = op.delete(e.key);
    if (++n % 100 === 0) {
      await op.commit();
      op = kv.atomic();
    }
  }
  if (n % 100 !== 0) await op.commit();
}
