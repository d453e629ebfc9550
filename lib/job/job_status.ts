/**
 * A job as its owner follows it (`deno task job status`): its state, each closed round's
 * validation loss, and once finalized its improvement, what it paid and the model's CID; with
 * `wait`, new rounds are reported as they close until the job is finalized. Read from the
 * coordinator's GET /status?job=.
 *
 * @example
 * ```ts
 * import { describeJob } from "./job_status.ts";
 * const lines = describeJob({
 *   jobId: `0x${"ab".repeat(32)}`, status: "running", round: 1, rounds: 2, assigned: ["0x1"],
 *   roundUpdates: 0, initialValLoss: 5.5,
 *   metrics: [{ round: 0, valLoss: 5.1, updates: 1, bytes: 10 }],
 * });
 * console.assert(lines.length === 2 && lines[1]!.includes("5.1000"));
 * ```
 */
import { formatEther, type Hex } from "viem";
import { type CoordinatorClient, isTransient } from "../worker/client.ts";

/** What the owner reads of a job's status. */
export interface JobView {
  jobId: Hex;
  status: "running" | "completed" | "finalized";
  round: number;
  rounds: number;
  assigned: string[];
  roundUpdates?: number;
  initialValLoss: number;
  metrics: { round: number; valLoss: number; updates: number; bytes: number }[];
  finalize?: { paid: string; refund: string; improvementBps: number };
  modelFolderCid?: string;
  globalCid?: string;
}

const short = (hex: string) => `${hex.slice(0, 10)}…`;

/** The job's state line. */
export function stateLine(job: JobView): string {
  const id = `job ${job.jobId}`;
  if (job.status === "running") {
    return `${id} running: round ${job.round + 1} of ${job.rounds}, ${
      job.roundUpdates ?? "?"
    }/${job.assigned.length} updates in; initial validation loss ${job.initialValLoss.toFixed(4)}`;
  }
  if (job.status === "completed") {
    return `${id} completed all ${job.rounds} rounds; rewards settle once its settlement delay ` +
      "is over (the coordinator retries every minute)";
  }
  const f = job.finalize!;
  const last = job.metrics.at(-1)?.valLoss ?? job.initialValLoss;
  const model = job.modelFolderCid ? `; model artha://${job.modelFolderCid}` : "";
  return `${id} finalized: validation loss ${job.initialValLoss.toFixed(4)} -> ${
    last.toFixed(4)
  } (improved ${(f.improvementBps / 100).toFixed(2)}%); paid ${formatEther(BigInt(f.paid))} ARTH ` +
    `to its nodes, refunded ${formatEther(BigInt(f.refund))} ARTH${model}`;
}

/** The line of one closed round. */
export function roundLine(job: JobView, i: number): string {
  const m = job.metrics[i]!;
  const before = job.metrics[i - 1]?.valLoss ?? job.initialValLoss;
  return `  round ${m.round + 1}/${job.rounds} of ${short(job.jobId)} closed: validation loss ${
    before.toFixed(4)
  } -> ${m.valLoss.toFixed(4)} (${m.updates} updates, ${m.bytes.toLocaleString("en")} bytes)`;
}

/** Everything known about a job, as lines: its state, then each closed round. */
export function describeJob(job: JobView): string[] {
  return [stateLine(job), ...job.metrics.map((_, i) => roundLine(job, i))];
}

/** Options of {@link watchJob}. */
export interface WatchJobOptions {
  /** Gives up after this long (ms). */
  timeoutMs: number;
  pollMs?: number;
  log: (line: string) => void;
}

/**
 * Reports the job, then each round as it closes and each change of state, until it is
 * finalized; returns it. A coordinator briefly away is retried.
 *
 * @throws {Error} when the job is not finalized within `timeoutMs`
 */
export async function watchJob(
  coordinator: CoordinatorClient,
  jobId: Hex,
  options: WatchJobOptions,
): Promise<JobView> {
  const deadline = Date.now() + options.timeoutMs;
  let rounds = 0;
  let state = "";
  for (;;) {
    let job: JobView;
    try {
      job = await coordinator.getJson<JobView>(`/status?job=${jobId}`);
    } catch (e) {
      if (!isTransient(e) || Date.now() >= deadline) throw e;
      options.log(`${(e as Error).message.split("\n")[0]}; retrying`);
      await new Promise((r) => setTimeout(r, 2000));
      continue;
    }
    for (; rounds < job.metrics.length; rounds++) options.log(roundLine(job, rounds));
    const now = job.status === "running" ? `running ${job.round}` : job.status;
    if (now !== state) options.log(stateLine(job));
    state = now;
    if (job.status === "finalized") return job;
    if (Date.now() >= deadline) {
      throw new Error(
        `job ${jobId} is not finalized after ${Math.round(options.timeoutMs / 1000)} s ` +
          `(${job.status}, round ${job.round + 1} of ${job.rounds})`,
      );
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 1000));
  }
}
