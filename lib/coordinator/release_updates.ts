/**
 * Releasing a finalized job's updates: the coordinator pins every accepted update and cluster sum
 * (svdb_retention.ts) because a round's close reads them; once the job is finalized nothing does.
 * Challenges, disputes and committees recompute from checkpoints, never from the uploads, and
 * finalize only succeeds after the settlement delay their windows fit in. So the updates are
 * unpinned at finalize and go at the next collection; checkpoints, the model folder and the
 * job's data stay pinned.
 *
 * Pins are per root, not counted: an update may name a blob something else pinned (a node can
 * upload, commit and post another job's checkpoint or this job's initial weights as its update).
 * Such a CID is kept: only a CID no job record or spec references, and no unfinished job's
 * update, is unpinned.
 */
import type { Hex } from "viem";
import { parseCid } from "../store/cid.ts";
import { canonicalCid } from "./svdb_private.ts";
import { SECURE_UPDATE_CID } from "../round/secure_session.ts";
import type { Context } from "./context.ts";
import { clusterMeans } from "./clusters.ts";
import { loadSpec } from "./job.ts";
import {
  type JobHead,
  type JobRecord,
  listJobHeads,
  listValues,
  type UpdateRecord,
} from "./state.ts";
import { currentSession } from "./_secure_session.ts";
import { deleteListed } from "./large_value.ts";

/** Marks a job whose updates were released, so a repeated finalize call does not redo it. */
const releasedKey = (jobId: string): Deno.KvKey => ["updates_released", jobId.toLowerCase()];

/**
 * Unpins the updates and cluster sums of a finalized job that nothing else references; returns
 * the CIDs unpinned (none when already released).
 */
export async function releaseUpdates(ctx: Context, jobId: Hex): Promise<string[]> {
  if ((await ctx.kv.get(releasedKey(jobId))).value) return [];
  const uploads = await uploadsOf(ctx.kv, jobId);
  const kept = uploads.size ? await referencedCids(ctx, jobId) : new Set<string>();
  // Compared as the store names them: a pin is per CID, whatever its spelling, and an update
  // naming a kept checkpoint in another base would otherwise unpin it (found in the storage
  // audit; records made before intake refused other spellings may still hold one).
  const canonicalKept = new Set([...kept].map(canonicalCid));
  const released = [...uploads].filter((cid) => !canonicalKept.has(canonicalCid(cid)));
  for (const cid of released) await ctx.store.unpin(cid);
  await ctx.kv.set(releasedKey(jobId), { at: ctx.now(), released: released.length });
  return released;
}

/** The CIDs of a job's accepted updates and cluster sums (the secure placeholder aside). */
async function uploadsOf(kv: Deno.Kv, jobId: string): Promise<Set<string>> {
  const updates = await listValues<UpdateRecord>(kv, ["update", jobId.toLowerCase()]);
  const cids = [...updates.map((u) => u.updateCid), ...await clusterMeans(kv, jobId)];
  return new Set(cids.filter((c): c is string => !!c && c !== SECURE_UPDATE_CID && isCid(c)));
}

function isCid(cid: string): boolean {
  try {
    parseCid(cid);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every CID the coordinator's records keep: each job's spec, data, checkpoints, optimizer state
 * and model folder, and the updates of every job but `jobId` not finalized yet.
 */
async function referencedCids(ctx: Context, jobId: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const job of await listJobHeads(ctx.kv)) {
    for (const cid of await jobCids(ctx, job)) out.add(cid);
    if (job.jobId.toLowerCase() !== jobId.toLowerCase() && job.status !== "finalized") {
      for (const cid of await uploadsOf(ctx.kv, job.jobId)) out.add(cid);
    }
  }
  return out;
}

async function jobCids(ctx: Context, job: JobHead): Promise<string[]> {
  const spec = await loadSpec(ctx.store, job.specCid);
  const cids = [
    job.specCid,
    job.globalCid,
    spec.initialWeights,
    spec.validation,
    ...spec.shards.map((s) => s.cid),
    ...job.metrics.map((m) => m.checkpointCid),
    job.modelFolderCid,
    job.outerVelocityCid,
  ];
  return cids.filter((c): c is string => !!c);
}

/**
 * Unpins what a closed round made that nothing reads once the job moved past it: the server
 * optimizer's state it replaced (`before`, when the close stored another; its bytes name its job,
 * round_apply.ts, so no other file has them) and a secure round's unmasked sum. Found in the
 * storage audit: each was pinned for good, a model's size (twice that for Adam's moments) more
 * every round. A secure round's messages are deleted too.
 */
export async function releaseClosedRound(
  ctx: Context,
  job: JobRecord,
  state: { before?: string; after?: string },
): Promise<void> {
  const { before, after } = state;
  if (before && canonicalCid(before) !== canonicalCid(after ?? "")) await ctx.store.unpin(before);
  // Only a sum named by its session (older ones may be any file's bytes: see storedSum).
  const result = (await currentSession(ctx, job))?.value.result;
  if (result?.sumHeader) await ctx.store.unpin(result.sumCid);
  await deleteSessionMessages(ctx.kv, job);
}

/**
 * Deletes the closed round's secure-aggregation messages (every attempt's, their parts with
 * them): only the open round's are ever read (a server is rebuilt from them), and each round left
 * a few KB a node a stage for good (found in the secure aggregation audit). The session heads,
 * with their results and failures (a proven dealer), stay.
 */
function deleteSessionMessages(kv: Deno.Kv, job: JobRecord): Promise<void> {
  const prefix = ["secagg", job.jobId.toLowerCase(), job.round];
  // [..., attempt, "msg", stage, node, ...]
  return deleteListed(kv, prefix, (key) => key[prefix.length + 1] === "msg");
}
