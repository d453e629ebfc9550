/**
 * The mark-and-sweep behind `Store.gc`: drop expired leases, mark every block reachable from a
 * pin or a live lease, delete the rest. Marks are multihashes, so a block is kept whenever any
 * live CID needs its bytes, even in a backend that keys blocks by hash alone.
 *
 * @module
 */
import type { CID } from "./cid.ts";
import { BlockNotFoundError, type Blockstore, multihashKey } from "./blockstore.ts";
import { type GetBlock, InvalidDagError, walkDag } from "./_dag.ts";

/** Result of a garbage collection. */
export interface GcResult {
  /** Blocks deleted. */
  removed: number;
  /** Blocks kept (reachable from a pin or a live lease). */
  kept: number;
  /** Leases that had expired and were dropped. */
  expired: number;
}

/** Sweeps `blockstore` at time `now`; `getLocal` reads a verified local block. */
export async function sweep(
  blockstore: Blockstore,
  getLocal: GetBlock,
  now: number,
): Promise<GcResult> {
  const roots: CID[] = [];
  for await (const pin of blockstore.pins()) roots.push(pin);
  let expired = 0;
  for await (const lease of blockstore.leases()) {
    if (lease.expiresAt > now) {
      roots.push(lease.cid);
    } else {
      await blockstore.deleteLease(lease.cid);
      expired++;
    }
  }
  const live = new Set<string>();
  for (const root of roots) {
    try {
      for await (const c of walkDag(getLocal, root)) live.add(multihashKey(c));
    } catch (err) {
      // An incomplete or malformed root keeps what was reached; it must not stop every gc.
      if (!(err instanceof BlockNotFoundError || err instanceof InvalidDagError)) throw err;
    }
  }
  let removed = 0;
  let kept = 0;
  for await (const c of blockstore.blocks()) {
    if (live.has(multihashKey(c))) {
      kept++;
    } else {
      await blockstore.delete(c);
      removed++;
    }
  }
  await blockstore.removeTemporary?.();
  return { removed, kept, expired };
}
