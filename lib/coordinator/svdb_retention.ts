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
import type { PrivateFile } from "./svdb_private.ts";

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
  const result = await collectGarbage(ctx.store, ctx.now());
  await sweepRecords(ctx);
  return result;
}

/** The per-CID records of the gateway: who uploaded, who may read, what is private or a key. */
const RECORD_PREFIXES = ["svdb_uploader", "svdb_private", "svdb_reader", "grant_key"] as const;
/**
 * Most records one collection looks at (a cursor per kind carries on from there next time): at a
 * run every 15 minutes, about 9.6 million a day, many times what one signer's quota adds (found
 * reviewing the sweep: at 10,000 a run one signer outpaced it).
 */
export const RECORDS_PER_SWEEP = 100_000;
const sweepCursorKey = (prefix: string): Deno.KvKey => ["svdb_sweep_cursor", prefix];

/**
 * Deletes the records of CIDs whose bytes are gone: an upload's uploader, reader and key records,
 * and a private record no job uses and no upload is under way for. Found in the storage audit:
 * none was ever deleted, so a signer added records for good at its quota's 4 KiB minimum (about
 * 524,000 a day), and a private record outlived its bytes, so the same bytes stored later by
 * anyone (a public file the coordinator writes) stayed private. Each delete is checked against
 * the entry read: a record written again meanwhile (a new upload of the bytes) stays.
 */
export async function sweepRecords(ctx: Context, max = RECORDS_PER_SWEEP): Promise<number> {
  let deleted = 0;
  for (const prefix of RECORD_PREFIXES) {
    const saved = (await ctx.kv.get<string>(sweepCursorKey(prefix))).value ?? undefined;
    const limit = Math.ceil(max / RECORD_PREFIXES.length);
    const iter = ctx.kv.list({ prefix: [prefix] }, { cursor: saved, limit });
    let seen = 0;
    for await (const entry of iter) {
      seen++;
      if (await stillNeeded(ctx, prefix, entry)) continue;
      const res = await ctx.kv.atomic().check(entry).delete(entry.key).commit();
      if (res.ok) deleted++;
    }
    // A full page: carry on from there; else the next sweep starts over.
    const cursor = seen >= limit && iter.cursor ? iter.cursor : undefined;
    if (cursor) await ctx.kv.set(sweepCursorKey(prefix), cursor);
    else await ctx.kv.delete(sweepCursorKey(prefix));
  }
  return deleted;
}

async function stillNeeded(
  ctx: Context,
  prefix: string,
  entry: Deno.KvEntry<unknown>,
): Promise<boolean> {
  const cid = String(entry.key[1]);
  if (prefix === "svdb_private") {
    const rec = entry.value as PrivateFile;
    if (rec.jobs.length > 0 || (rec.pending ?? []).length > 0) return true;
  }
  try {
    return await ctx.store.has(cid);
  } catch {
    return true; // not a CID this store reads: left alone
  }
}
