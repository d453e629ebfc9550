/**
 * Finalizing completed jobs: reports the validation improvement the job (mean over shards)
 * achieved (it unlocks the accuracy bonus when it meets the owner's target), then
 * ProofOfCompute.finalize credits every node's reward and refunds the rest of the escrow; the
 * final weights are exported as the Hugging Face-style model folder (`modelFolderCid`), and the
 * job's updates, which nothing reads any more, are unpinned (release_updates.ts).
 * Idempotent: a job already finalized on chain is only recorded.
 */
import type { Hex } from "viem";
import { reportAccuracy } from "../chain/close_round.ts";
import { finalizeJob, preflightFinalizeJob } from "../chain/finalize_job.ts";
import { readJob } from "../chain/read_job.ts";
import { getJobSettlement } from "../chain/get_job_settlement.ts";
import { ChainCallError } from "../chain/send_contract.ts";
import type { CID } from "multiformats/cid";
import { exportModelFolder } from "../model/publish.ts";
import { directoryLinks } from "../model/model_folder.ts";
import type { Context } from "./context.ts";
import { loadSpec, loadWeights } from "./job.ts";
import { BPS } from "../job/round_policy.ts";
import { challengesOwed } from "./challenges.ts";
import { followUpVerification } from "./follow_up.ts";
import { releaseUpdates } from "./release_updates.ts";
import { reject, type Rejection } from "./result.ts";
import { liftPrivate } from "./svdb_private.ts";
import {
  getJob,
  type JobHead,
  type JobRecord,
  listLiveJobHeads,
  type RoundMetric,
  setJob,
  shardSpread,
  withAssignment,
} from "./state.ts";

/**
 * Relative validation-loss improvement of a job, in basis points (0 if it got worse), on the mean
 * over shards (data owners) of each shard's loss, before training and after the last round.
 */
export function improvementBps(job: {
  metrics: Pick<RoundMetric, "valLoss" | "shardLoss">[];
  initialValLoss: number;
}): number {
  const m = job.metrics.at(-1);
  const last = m ? shardSpread(m).mean : job.initialValLoss;
  return Math.max(0, Math.min(BPS, Math.round((1 - last / job.initialValLoss) * BPS)));
}

/**
 * Exports the job's final weights as the Hugging Face-style model folder into SVDB and returns
 * its CID (content-addressed, so a retry yields the same CID). The owner publishes that CID in
 * ModelRegistry; SSM models have no ONNX export and get none.
 */
async function exportJobModel(ctx: Context, job: JobHead): Promise<string | undefined> {
  const spec = await loadSpec(ctx.store, job.specCid);
  if (spec.model.kind !== "gpt") return undefined;
  const weights = await loadWeights(ctx.store, job.globalCid);
  const cid = await exportModelFolder(ctx.store, spec.model, weights, {
    jobId: job.jobId,
    rounds: String(job.rounds),
    checkpointCid: job.globalCid,
  });
  await publicFolder(ctx, cid);
  return cid.toString();
}

/**
 * Clears any private record on the folder and its files: the model is public. Found in the storage
 * audit: its files' bytes follow from the public final checkpoint, so anyone could upload them
 * privately first (POST /svdb/private takes any CID not stored yet); the export then skipped the
 * stored blocks and kept the record, and the model was refused to everyone, its owner included.
 */
async function publicFolder(ctx: Context, root: CID): Promise<void> {
  await liftPrivate(ctx, root.toString());
  const links = directoryLinks(root, await ctx.store.getBlock(root));
  for (const entry of links?.values() ?? []) await publicFolder(ctx, entry); // files and subfolders
}

/** Finalizes one completed job. */
export async function finalizeOne(
  ctx: Context,
  jobId: Hex,
): Promise<{ ok: true; job: JobRecord } | Rejection> {
  const entry = await getJob(ctx.kv, jobId);
  const job = entry.value;
  if (!job) return reject(404, "UNKNOWN_JOB", "Cannot finalize: unknown job");
  if (job.status === "finalized") {
    await releaseUpdates(ctx, job.jobId); // a no-op unless a crash came between record and release
    return { ok: true, job: await withAssignment(ctx.kv, job) };
  }
  if (job.status !== "completed") {
    const why = `job is ${job.status} (round ${job.round} of ${job.rounds})`;
    return reject(409, "JOB_NOT_COMPLETED", `Cannot finalize: ${why}`);
  }
  // The last rounds' challenges, disputes and committees first: settlement waits for every one.
  await followUpVerification(
    ctx,
    await withAssignment(ctx.kv, job),
    await loadSpec(ctx.store, job.specCid),
  );
  // A last round whose close stopped before issuing its challenges owes them (the follow-up
  // issues them a minute on): the chain cannot wait for challenges it never saw.
  const owed = await challengesOwed(ctx, job.jobId);
  if (owed !== undefined) {
    const why = `round ${owed}'s challenges are not all issued yet; finalize again in a minute`;
    return reject(409, "CHALLENGES_OWED", `Cannot finalize: ${why}`);
  }
  const settled = await settleOnChain(ctx, job);
  if (!settled.ok) return settled;
  const updated: JobHead = {
    ...job,
    status: "finalized",
    finalize: settled.finalize,
    modelFolderCid: await exportJobModel(ctx, job),
  };
  const res = await setJob(ctx.kv.atomic().check(entry), updated).commit();
  const now = res.ok ? updated : (await getJob(ctx.kv, jobId)).value!;
  // After the settlement delay and the record: no challenge, dispute or close reads them now.
  await releaseUpdates(ctx, job.jobId);
  return { ok: true, job: await withAssignment(ctx.kv, now) };
}

type Settlement = NonNullable<JobHead["finalize"]>;

/**
 * Reports the improvement and finalizes on chain, then records the settlement the chain's events
 * show: a restart after the chain settled (or after some of the batches) reports what was
 * really paid, whichever run sent the transactions. Inside the settlement delay (challenges
 * and disputes on the last rounds may still cut a reward) it is refused until the delay ends,
 * and while any of them is still open on chain.
 */
async function settleOnChain(
  ctx: Context,
  job: JobHead,
): Promise<{ ok: true; finalize: Settlement } | Rejection> {
  const { client, addresses } = ctx.chain;
  const bps = improvementBps(job);
  const at = { addresses, jobId: job.jobId };
  try {
    // Nothing is sent before the settlement could go through, and the report only when the
    // chain's differs: found in the inference audit, anyone calling POST /finalize during the
    // delay had the coordinator send (and pay for) a reportAccuracy each time, then be refused.
    await preflightFinalizeJob(client, at);
    if ((await readJob(client, at)).achievedImprovementBps !== bps) {
      await reportAccuracy(client, { ...at, improvementBps: bps });
    }
    await finalizeJob(client, at);
  } catch (e) {
    if (!(e instanceof ChainCallError)) throw e;
    if (e.errorName === "PoC__SettlementDelay") {
      const readyAt = new Date(Number(e.args?.[1] ?? 0n) * 1000).toISOString();
      const why = `Cannot finalize yet: the settlement delay ends at ${readyAt}`;
      return reject(409, "SETTLEMENT_DELAY", why);
    }
    if (e.errorName === "PoC__CasesOpen") {
      const why = `Cannot finalize yet: ${e.args?.[1]} challenges, disputes or committee ` +
        "attestations of the job are still open on chain; each ends when answered or decided, or " +
        "when its window closes (finalize or aggregate again then: the coordinator claims the timeouts)";
      return reject(409, "VERIFICATION_OPEN", why);
    }
    if (!["PoC__AlreadyFinalized", "JobManager__WrongStatus"].includes(e.errorName ?? "")) throw e;
  }
  const settled = await getJobSettlement(client, { addresses, jobId: job.jobId });
  if (!settled) {
    throw new Error(`Cannot finalize ${job.jobId}: the chain has no JobFinalized event`);
  }
  return {
    ok: true,
    finalize: {
      txHash: settled.txHash,
      paid: settled.paid.toString(),
      refund: settled.refund.toString(),
      improvementBps: settled.improvementBps ?? bps,
    },
  };
}

/** Finalizes every completed job (what the cron calls); jobs still in their delay wait. */
export async function finalizeAll(ctx: Context): Promise<JobRecord[]> {
  const out: JobRecord[] = [];
  for (const job of await listLiveJobHeads(ctx.kv)) {
    if (job.status !== "completed") continue;
    try {
      const r = await finalizeOne(ctx, job.jobId);
      if (r.ok) out.push(r.job);
    } catch (e) {
      console.error(`finalize: job ${job.jobId}:`, e); // the others still settle
    }
  }
  return out;
}
