/**
 * One node per browser: the Web Lock every tab of the profile takes to run its node or change its
 * key.
 *
 * @module
 */

/** The Web Locks API (navigator.locks), as far as {@link oneTab} uses it. */
interface TabLocks {
  request(
    name: string,
    options: { ifAvailable: boolean },
    fn: (lock: unknown) => Promise<void>,
  ): Promise<void>;
}

/**
 * Runs `fn` (the node's whole run) holding this browser's node lock. Every tab of the profile
 * reads the same key and state: found in the browser audit, two tabs ran one node, doubling its
 * heartbeats and writing the same kept-commits record, so one could drop a commit the other kept
 * and leave its challenges unanswered after a restart.
 */
export async function oneTab(fn: () => Promise<void>, what = "join"): Promise<void> {
  const locks = (navigator as { locks?: TabLocks }).locks;
  if (!locks) return await fn();
  await locks.request("artha-node", { ifAvailable: true }, async (lock: unknown) => {
    if (!lock) {
      throw new Error(
        what === "join"
          ? "Cannot join: this node already runs in another tab of this browser (one key: two " +
            "tabs would double its heartbeats and overwrite each other's kept commits); use that tab"
          : `Cannot ${what}: this browser's node runs in another tab; stop it there first`,
      );
    }
    await fn();
  });
}
