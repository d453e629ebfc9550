/**
 * What the coordinator keeps in its SVDB, and the collection of the rest. Uploads through the
 * gateway are only leased (`uploadLeaseMs`); the coordinator pins what it comes to reference: a
 * started job's spec, initial weights, shards and validation data, every accepted update and
 * cluster mean, a registered dataset its owner uploaded and the wrapped key once the grant that
 * POST /did/grant stored the key for lands on chain. Its own writes (checkpoints, velocities,
 * model folders) are pinned when written. {@link collectSvdbGarbage} runs on a schedule and drops
 * everything else once its lease is over.
 */
import { BlockNotFoundError } from "../store/blockstore.ts";
import { collectGarbage } from "../store/collect_garbage.ts";
import type { GcResult } from "../store/store.ts";
import type { JobSpec } from "../job/job_spec.ts";
import type { Context } from "./context.ts";
import { confirmGrants } from "./data_grants.ts";

/** Pins each CID so collection never takes it; one not in the store is skipped. */
export async function keepReferenced(ctx: Context, cids: readonly string[]): Promise<void> {
  for (const cid of new Set(cids)) {
    try {
      await ctx.store.pin(cid);
    } catch (e) {
      if (!(e instanceof BlockNotFoundError)) throw e; // absent: nothing here to keep
    }
  }
}

/**
 * Pins an upload a round is about to count; false when it is gone. Found in the KV audit: the
 * upload was only leased, and a collection between intake's read and a pin that skipped the
 * missing file stored an update no close could read, so the round never closed again.
 */
export async function pinUpload(ctx: Context, cid: string): Promise<boolean> {
  try {
    await ctx.store.pin(cid);
    return true;
  } catch (e) {
    if (e instanceof BlockNotFoundError) return false;
    throw e;
  }
}

/** Pins what a started job reads for its whole life: spec, initial weights, shards, validation. */
export function keepJobData(ctx: Context, specCid: string, spec: JobSpec): Promise<void> {
  const data = [spec.initialWeights, spec.validation, ...spec.shards.map((s) => s.cid)];
  return keepReferenced(ctx, [specCid, ...data]);
}

/**
 * Collects, at the coordinator's clock, every block neither pinned nor leased, after pinning what
 * grants that landed on chain keep (data_grants.ts); a chain that cannot be read then leaves them
 * to their leases until the next run.
 */
export async function collectSvdbGarbage(ctx: Context): Promise<GcResult> {
  await confirmGrants(ctx).catch((e) => console.error("svdb: grants not confirmed:", e));
  return await collectGarbage(ctx.store, ctx.now());
}
