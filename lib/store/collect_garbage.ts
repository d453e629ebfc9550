/**
 * Garbage collection of the SVDB at a given time: what is neither pinned nor leased goes.
 *
 * Uploads through the coordinator's gateway are leased (kept until a deadline), not pinned;
 * what the coordinator itself references (job data, accepted updates, checkpoints, models) is
 * pinned. A coordinator runs this on a schedule with its own clock.
 *
 * @module
 */
import type { GcResult, Store } from "./store.ts";

/**
 * Drops the leases expired at `now` and deletes every block reachable from neither a pin nor a
 * live lease (blocks shared with a kept DAG stay).
 *
 * @example
 * ```ts
 * import { collectGarbage } from "./collect_garbage.ts";
 * import { MemoryBlockstore } from "./memory_blockstore.ts";
 * import { Store } from "./store.ts";
 * const store = new Store(new MemoryBlockstore());
 * const cid = await store.put(new Uint8Array([1]), { pin: false, leaseUntil: 1_000 });
 * console.assert((await collectGarbage(store, 999)).removed === 0);
 * console.assert((await collectGarbage(store, 1_000)).removed === 1);
 * console.assert(!(await store.has(cid)));
 * ```
 */
export function collectGarbage(store: Store, now: number): Promise<GcResult> {
  if (!Number.isFinite(now)) throw new RangeError("Cannot collect garbage: now must be a time");
  return store.gc({ now });
}
