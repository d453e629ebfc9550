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

const PIECE = 1 << 20;

/** A spool in a file of `dir` when given, else in memory. */
export async function openSpool(dir?: string): Promise<Spool> {
  return dir === undefined ? memorySpool() : await fileSpool(dir);
}

function memorySpool(): Spool {
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

async function fileSpool(dir: string): Promise<Spool> {
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
