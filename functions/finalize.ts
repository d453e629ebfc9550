/**
 * POST /finalize {jobId?} — settles completed jobs: reports the validation improvement the job
 * achieved (it unlocks the accuracy bonus when it meets the owner's target), then
 * ProofOfCompute.finalize credits every node's reward and refunds the rest of the escrow; the
 * final weights are exported as the Hugging Face-style model folder (`modelFolderCid`).
 * Idempotent: a job already finalized on chain is only recorded.
 */
import type { Hex } from "viem";
import { reportAccuracy } from "../lib/chain/close_round.ts";
import { finalizeJob } from "../lib/chain/finalize_job.ts";
import { ChainCallError } from "../lib/chain/_send.ts";
import { exportModelFolder } from "../lib/publish.ts";
import { type Context, contextFromEnv } from "./_context.ts";
import { loadSpec, loadWeights } from "./_job.ts";
import { field, handler, HttpError, json, readJson } from "./_http.ts";
import { getJob, type JobRecord, listJobs, setJob } from "./_state.ts";

/** Relative validation-loss improvement of a job, in basis points (0 if it got worse). */
export function improvementBps(job: JobRecord): number {
  const last = job.metrics.at(-1)?.valLoss ?? job.initialValLoss;
  return Math.max(0, Math.min(10_000, Math.round((1 - last / job.initialValLoss) * 10_000)));
}

/**
 * Exports the job's final weights as the Hugging Face-style model folder into SVDB and returns
 * its CID (content-addressed, so a retry yields the same CID). The owner publishes that CID in
 * ModelRegistry; SSM models have no ONNX export and get none.
 */
async function exportJobModel(ctx: Context, job: JobRecord): Promise<string | undefined> {
  const spec = await loadSpec(ctx.store, job.specCid);
  if (spec.model.kind !== "gpt") return undefined;
  const weights = await loadWeights(ctx.store, job.globalCid);
  const cid = await exportModelFolder(ctx.store, spec.model, weights, {
    jobId: job.jobId,
    rounds: String(job.rounds),
    checkpointCid: job.globalCid,
  });
  return cid.toString();
}

/** Finalizes one completed job. */
export async function finalizeOne(ctx: Context, jobId: Hex): Promise<JobRecord> {
  const entry = await getJob(ctx.kv, jobId);
  const job = entry.value;
  if (!job) throw new HttpError(404, "Cannot finalize: unknown job");
  if (job.status === "finalized") return job;
  if (job.status !== "completed") {
    throw new HttpError(
      409,
      `Cannot finalize: job is ${job.status} (round ${job.round} of ${job.rounds})`,
    );
  }
  const { client, addresses } = ctx.chain;
  const bps = improvementBps(job);
  let finalize: JobRecord["finalize"];
  try {
    await reportAccuracy(client, { addresses, jobId: job.jobId, improvementBps: bps });
    const fin = await finalizeJob(client, { addresses, jobId: job.jobId });
    const paid = fin.rewards.reduce((s, r) => s + r.total, 0n);
    finalize = {
      txHash: fin.hash,
      paid: paid.toString(),
      refund: fin.refund.toString(),
      improvementBps: bps,
    };
  } catch (e) {
    if (e instanceof ChainCallError && e.errorName === "PoC__SettlementDelay") {
      // Challenges and disputes on the last rounds may still cut a reward: settle after the delay.
      const readyAt = Number(e.args?.[1] ?? 0n);
      throw new HttpError(
        409,
        `Cannot finalize yet: the settlement delay ends at ${
          new Date(readyAt * 1000).toISOString()
        }`,
        { cause: e },
      );
    }
    // A restart after the chain settled: the job is Finalized there, record it as such.
    if (
      !(e instanceof ChainCallError) ||
      !["PoC__AlreadyFinalized", "JobManager__WrongStatus"].includes(e.errorName ?? "")
    ) throw e;
    finalize = { txHash: "0x" as Hex, paid: "unknown", refund: "unknown", improvementBps: bps };
  }
  const updated: JobRecord = {
    ...job,
    status: "finalized",
    finalize,
    modelFolderCid: await exportJobModel(ctx, job),
  };
  const res = await setJob(ctx.kv.atomic().check(entry), updated).commit();
  return res.ok ? updated : (await getJob(ctx.kv, jobId)).value!;
}

/** Finalizes every completed job (what the cron calls). */
export async function finalizeAll(ctx: Context): Promise<JobRecord[]> {
  const out: JobRecord[] = [];
  for (const job of await listJobs(ctx.kv)) {
    if (job.status !== "completed") continue;
    try {
      out.push(await finalizeOne(ctx, job.jobId));
    } catch (e) {
      // Jobs still inside their settlement delay are settled by a later run.
      if (!(e instanceof HttpError && e.status === 409)) throw e;
    }
  }
  return out;
}

/** Creates the finalize handler over a context. */
export function createFinalize(ctx: Context) {
  return handler(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot finalize: use POST");
    const body = req.headers.get("content-length") === "0" || !req.body ? {} : await readJson(req);
    if (body.jobId !== undefined) return json([await finalizeOne(ctx, field.hex32(body, "jobId"))]);
    return json(await finalizeAll(ctx));
  });
}

export default {
  fetch: async (req: Request) => createFinalize(await contextFromEnv())(req),
};
