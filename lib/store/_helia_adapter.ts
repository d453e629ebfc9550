/**
 * Presents an SVDB {@link Blockstore} (for example the filesystem one) as the
 * `interface-blockstore` a Helia node keeps its local blocks in, so a Helia peer can serve
 * and persist the SVDB's blocks.
 *
 * @module
 */
import type { Blockstore as HeliaBlockstoreInterface, InputPair, Pair } from "interface-blockstore";
import type { CID } from "./cid.ts";
import { concatBytes } from "../crypto/digest.ts";
import { BlockNotFoundError, type Blockstore } from "./blockstore.ts";

/** Error name `interface-store` users (Helia) test for. */
class NotFoundError extends Error {
  override name = "NotFoundError";
}

/** Wraps `blockstore` in the interface Helia expects for local storage. */
export function toInterfaceBlockstore(blockstore: Blockstore): HeliaBlockstoreInterface {
  const collect = async (
    bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ): Promise<Uint8Array> => {
    if (bytes instanceof Uint8Array) return bytes;
    const parts: Uint8Array[] = [];
    for await (const p of bytes) parts.push(p);
    return concatBytes(...parts);
  };
  const get = async function* (cid: CID): AsyncGenerator<Uint8Array> {
    try {
      yield await blockstore.get(cid);
    } catch (err) {
      if (err instanceof BlockNotFoundError) throw new NotFoundError(err.message, { cause: err });
      throw err;
    }
  };
  return {
    has: (cid: CID) => blockstore.has(cid),
    put: async (cid: CID, bytes) => {
      await blockstore.put(cid, await collect(bytes));
      return cid;
    },
    async *putMany(source: Iterable<InputPair> | AsyncIterable<InputPair>) {
      for await (const { cid, bytes } of source) {
        await blockstore.put(cid, await collect(bytes));
        yield cid;
      }
    },
    get,
    async *getMany(source: Iterable<CID> | AsyncIterable<CID>): AsyncGenerator<Pair> {
      for await (const cid of source) yield { cid, bytes: get(cid) };
    },
    delete: (cid: CID) => blockstore.delete(cid),
    async *deleteMany(source: Iterable<CID> | AsyncIterable<CID>) {
      for await (const cid of source) {
        await blockstore.delete(cid);
        yield cid;
      }
    },
    async *getAll(): AsyncGenerator<Pair> {
      for await (const cid of blockstore.blocks()) yield { cid, bytes: get(cid) };
    },
  };
}
