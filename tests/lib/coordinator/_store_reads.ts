/**
 * Counts what a store hands out: every file read (get, cat, open, pin) goes block by block
 * through `getBlock`, so this measures a request's reads without a clock.
 */
import type { Store } from "../../../lib/store/store.ts";

/** Wraps `store.getBlock` in place; `blocks` and `bytes` grow with every block read. */
export function countStoreReads(store: Store): { blocks: number; bytes: number } {
  const count = { blocks: 0, bytes: 0 };
  const getBlock = store.getBlock.bind(store);
  store.getBlock = async (cid) => {
    const block = await getBlock(cid);
    count.blocks++;
    count.bytes += block.length;
    return block;
  };
  return count;
}
