/**
 * The record of the last job submitted from a folder (`.artha/last-job.json`), as `deno task job`
 * keeps it: written before the job's escrow is sent (its id, then the transaction's hash), so a
 * submit cut short after paying still names its job for `status`, `start` and `cancel` without an
 * id, and a later submit does not replace it while that job holds its budget.
 *
 * @example
 * ```ts ignore
 * import { readJobRecord, refuseUnresolved, writeJobRecord } from "./job_record.ts";
 * const record = await readJobRecord(".artha/last-job.json");
 * await refuseUnresolved(owner, { addresses, file: ".artha/last-job.json", record });
 * await writeJobRecord(".artha/last-job.json", { ...job, pending: true });
 * ```
 */
import { dirname } from "node:path";
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { type ArthaAddresses, JobStatus } from "../chain/contracts.ts";
import { readJob } from "../chain/read_job.ts";
import { minedJobId, type PendingJob } from "./submit.ts";

/**
 * Thrown when the record cannot say which job to act on, or names one a new submit must not
 * replace; the owner's to resolve (the message says how), nothing was sent.
 */
export class JobRecordError extends Error {
  constructor(
    readonly code: "UNREADABLE" | "NOT_ESCROWED" | "NOT_MINED" | "UNRESOLVED_JOB",
    message: string,
  ) {
    super(message);
    this.name = "JobRecordError";
  }
}

/** The last job submitted from a folder, as its submit recorded it. */
export type JobRecord = Partial<PendingJob> & {
  jobId: Hex;
  /** Set until the submit (or `job start`) saw the job started. */
  pending?: boolean;
  assigned?: number;
  initialValLoss?: number;
};

/** Records the job in `file`, whole or not at all (a kill mid-write keeps the last one). */
export async function writeJobRecord(file: string, record: JobRecord): Promise<void> {
  await Deno.mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(record) + "\n");
  await Deno.rename(tmp, file);
}

/** The record in `file`, if any. */
export async function readJobRecord(file: string): Promise<JobRecord | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(file)) as JobRecord;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new JobRecordError(
      "UNREADABLE",
      `Cannot read ${file}: ${(e as Error).message}; name the job`,
    );
  }
}

/** Puts back the record a failed submit replaced (none: removes it). */
export async function restoreJobRecord(
  file: string,
  record: JobRecord | undefined,
): Promise<void> {
  if (record) return await writeJobRecord(file, record);
  await Deno.remove(file).catch(() => {});
}

/**
 * The id of a recorded job whose submit was cut short, as its escrow's receipt says (the
 * recorded one was derived before the send: a second submit of the account in between takes it).
 *
 * @throws {JobRecordError} when the record names no escrowed job, or its escrow is not mined yet
 */
export async function escrowedJobId(client: ArthaClient, record: JobRecord): Promise<Hex> {
  if (!record.pending) return record.jobId;
  // Found reviewing this: a record of a submit that failed before signing named the id derived
  // for it, which the next job of the account (from another folder) then took: cancel cancelled it.
  if (!record.txHash) {
    throw new JobRecordError(
      "NOT_ESCROWED",
      `Cannot find job ${record.jobId}: its submit stopped before its escrow was signed, so ` +
        "nothing was escrowed; name the job to act on another",
    );
  }
  const mined = await minedJobId(client, record.txHash, record.txNonce);
  if (mined) return mined;
  throw new JobRecordError(
    mined === null ? "NOT_ESCROWED" : "NOT_MINED",
    mined === null
      ? `Cannot find job ${record.jobId}: its escrow transaction ${record.txHash} reverted; ` +
        "nothing was escrowed"
      : `Cannot find job ${record.jobId} yet: its escrow transaction ${record.txHash} is not ` +
        "mined (or the chain did not answer); run this again once it is (if it never is, " +
        "nothing was escrowed: name the job to act on another)",
  );
}

/**
 * Refuses a new submit while `record` names a job whose submit was cut short after its escrow
 * was signed and which still holds its budget (open) or was never confirmed started (running).
 * Found in the job owner audit: a second submit replaced that record before sending its own
 * escrow, and the first job stayed open with its ARTH while nothing on disk named it. A record
 * whose escrow was never signed or reverted, or whose job has ended, may be replaced.
 *
 * @throws {JobRecordError} naming the job and what to run first
 */
export async function refuseUnresolved(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; file: string; record: JobRecord | undefined },
): Promise<void> {
  const { record, file } = params;
  if (!record?.pending || !record.txHash) return; // no hash: nothing was signed
  const mined = record.escrowed
    ? record.jobId
    : await minedJobId(client, record.txHash, record.txNonce);
  if (mined === null) return; // the escrow reverted: nothing was escrowed
  const resolve = "deno task job start (it starts the job) or deno task job cancel (its budget " +
    "back)";
  if (mined === undefined) {
    throw new JobRecordError(
      "NOT_MINED",
      `Cannot submit a job: ${file} records job ${record.jobId}, whose escrow transaction ` +
        `${record.txHash} is not mined yet (or the chain did not answer); run this again once ` +
        `it is, and if it escrowed the job, first ${resolve}. A transaction this chain never ` +
        `saw (another network or a restarted devnet) escrowed nothing: then remove ${file}`,
    );
  }
  const { status } = await readJob(client, { addresses: params.addresses, jobId: mined });
  if (status !== JobStatus.Open && status !== JobStatus.Running) return;
  const state = status === JobStatus.Open
    ? `escrowed (its budget is held) but not started: first ${resolve}`
    : "running on chain but its start was not confirmed: first confirm it, deno task job start";
  throw new JobRecordError(
    "UNRESOLVED_JOB",
    `Cannot submit a job: job ${mined}, whose submit from this folder was cut short, is ` +
      `${state}; a new submit would replace its record in ${file}`,
  );
}
