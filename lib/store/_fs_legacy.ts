/**
 * Upgrading a filesystem store written before blocks were keyed by codec (when a block's file
 * was named by its multihash alone). The codec of an old block is known only from the CID that
 * reaches it, so the blocks reachable from a pin or lease are re-stored under the codec those
 * DAGs give them, and every other old block file is deleted: an unpinned raw upload is never
 * turned into a dag-pb node on the way.
 *
 * @module
 */
import { type CID, CidMismatchError, RAW_CODE, verifyBlock } from "./cid.ts";
import { BlockNotFoundError, type Blockstore, multihashKey } from "./blockstore.ts";
import { InvalidDagError, walkDag } from "./_dag.ts";
import { TEMP_PREFIX } from "./atomic.ts";

/** Old block files under `blocksDir`, by multihash key (new keys are CIDv1 strings: "b…"). */
export async function legacyBlockFiles(blocksDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const shard of Deno.readDir(blocksDir)) {
    if (!shard.isDirectory) continue;
    for await (const e of Deno.readDir(`${blocksDir}/${shard.name}`)) {
      if (e.isFile && !e.name.startsWith(TEMP_PREFIX) && !e.name.startsWith("b")) {
        out.set(e.name, `${blocksDir}/${shard.name}/${e.name}`);
      }
    }
  }
  return out;
}

/**
 * Re-stores the old blocks reachable from `blockstore`'s pins and leases under codec keys and
 * deletes every old block file. Returns how many blocks were re-stored.
 */
export async function migrateLegacyBlocks(
  blockstore: Blockstore,
  legacy: Map<string, string>,
): Promise<number> {
  let moved = 0;
  const getBlock = async (cid: CID): Promise<Uint8Array> => {
    if (await blockstore.has(cid)) return await blockstore.get(cid);
    const path = legacy.get(multihashKey(cid));
    if (!path) throw new BlockNotFoundError(cid);
    const bytes = await Deno.readFile(path);
    await verifyBlock(cid, bytes);
    await blockstore.put(cid, bytes);
    moved++;
    return bytes;
  };
  const roots: CID[] = [];
  for await (const pin of blockstore.pins()) roots.push(pin);
  for await (const lease of blockstore.leases()) roots.push(lease.cid);
  for (const root of roots) {
    try {
      for await (const c of walkDag(getBlock, root)) if (c.code === RAW_CODE) await getBlock(c);
    } catch (err) {
      const lost = err instanceof BlockNotFoundError || err instanceof CidMismatchError ||
        err instanceof InvalidDagError;
      if (!lost) throw err; // an incomplete or damaged root keeps what could be moved
    }
  }
  for (const path of legacy.values()) await Deno.remove(path).catch(() => {});
  return moved;
}
