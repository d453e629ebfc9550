/**
 * A job as its owner follows it (`deno task job status`): its state, each closed round's
 * validation loss, and once finalized its improvement, what it paid and the model's CID; with
 * `wait`, new rounds are reported as they close until the job is finalized. Read from the
 * coordinator's GET /status?job=, and checked against what the chain records of the job
 * (`chainFacts`, `disagreements`): the coordinator could otherwise report rounds, a settlement or
 * an improvement the chain never saw. Its answer is read as data, never printed as it came
 * (`parseJobView`, and every line through `printable`): found in the job owner audit, a number
 * field holding an escape sequence reached the owner's terminal raw (OSC 52 sets the clipboard).
 *
 * @example
 * ```ts
 * import { describeJob } from "./job_status.ts";
 * const lines = describeJob({
 *   jobId: `0x${"ab".repeat(32)}`, status: "running", round: 1, rounds: 2, assigned: ["0x1"],
 *   roundUpdates: 0, initialValLoss: 5.5, specCid: "bafy-spec",
 *   metrics: [{ round: 0, valLoss: 5.1, updates: 1, bytes: 10 }],
 * });
 * console.assert(lines.length === 2 && lines[1]!.includes("5.1000"));
 * ```
 */
import { formatEther, type Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { type ArthaAddresses, JobStatus } from "../chain/contracts.ts";
import { getJobSettlement } from "../chain/get_job_settlement.ts";
import { readJob } from "../chain/read_job.ts";
import { printable } from "../network/printable.ts";
import { type CoordinatorClient, isTransient } from "../worker/client.ts";

/** What the owner reads of a job's status. */
export interface JobView {
  jobId: Hex;
  status: "running" | "completed" | "finalized";
  round: number;
  rounds: number;
  /** The job's nodes (GET /status?job=); a listing of every job gives `assignedCount` instead. */
  assigned?: string[];
  assignedCount?: number;
  roundUpdates?: number;
  /** Rounds closed, when the coordinator pages `metrics`. */
  metricCount?: number;
  initialValLoss: number;
  metrics: { round: number; valLoss: number; updates: number; bytes: number }[];
  finalize?: { paid: string; refund: string; improvementBps: number };
  modelFolderCid?: string;
  globalCid?: string;
  /** The spec the coordinator runs the job by (its hash is the job's paramsHash on chain). */
  specCid: string;
  /** Differential privacy spent so far, for the worst-off data owner (jobs with a budget). */
  privacy?: { epsilon: number; delta: number; maxEpsilon: number };
}

/**
 * The coordinator's answer for one job as a {@link JobView}, checked field by field: every
 * number a number (a diverged loss, JSON's null, is read as NaN), every id and CID text, the
 * status one of the three. Fields it does not know are kept as they came (they are not printed).
 *
 * @throws {TypeError} naming the first field that is not what it should be (not its value: that
 * is the coordinator's, and may be anything)
 *
 * @example
 * ```ts
 * import { parseJobView } from "./job_status.ts";
 * const view = { jobId: `0x${"ab".repeat(32)}`, status: "running", round: 0, rounds: 2,
 *   assigned: ["0x1"], initialValLoss: 5.5, metrics: [], specCid: "bafy-spec" };
 * console.assert(parseJobView(view).rounds === 2);
 * let refused = false;
 * try { parseJobView({ ...view, roundUpdates: "\x1b]52;c;aGk=\x07" }); } catch { refused = true; }
 * console.assert(refused);
 * ```
 */
export function parseJobView(raw: unknown): JobView {
  const job = fields(raw, "");
  job.check("jobId", "a job id", (x) => typeof x === "string" && /^0x[0-9a-fA-F]{64}$/.test(x));
  job.check("status", "running, completed or finalized", (x) => STATUSES.includes(x as never));
  for (const k of ["round", "rounds"]) job.check(k, "a count", isCount);
  for (const k of ["assignedCount", "roundUpdates", "metricCount"]) {
    job.check(k, "a count", isCount, { optional: true });
  }
  const texts = (x: unknown) => Array.isArray(x) && x.every(isText);
  job.check("assigned", "a list of node keys", texts, { optional: true });
  job.check("specCid", "text", isText);
  for (const k of ["modelFolderCid", "globalCid"]) job.check(k, "text", isText, { optional: true });
  job.loss("initialValLoss");
  job.check("metrics", "a list", Array.isArray);
  (job.value.metrics as unknown[]).forEach((m, i) => {
    const metric = fields(m, `metrics[${i}]`);
    for (const k of ["round", "updates", "bytes"]) metric.check(k, "a count", isCount);
    metric.loss("valLoss");
  });
  if (job.value.finalize !== undefined || job.value.status === "finalized") {
    const f = fields(job.value.finalize, "finalize");
    const wei = (x: unknown) => typeof x === "string" && /^\d{1,78}$/.test(x);
    for (const k of ["paid", "refund"]) f.check(k, "an amount of wei", wei);
    f.check("improvementBps", "a number", Number.isFinite);
  }
  if (job.value.privacy !== undefined) {
    const p = fields(job.value.privacy, "privacy");
    for (const k of ["epsilon", "delta", "maxEpsilon"]) p.check(k, "a number", isNumber);
  }
  return job.value as unknown as JobView;
}

const STATUSES: JobView["status"][] = ["running", "completed", "finalized"];
const isCount = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
const isText = (x: unknown) => typeof x === "string";
const isNumber = (x: unknown) => typeof x === "number";

/** Checks of the fields of `raw`, an object at `path` in the answer ("" at its top). */
function fields(raw: unknown, path: string) {
  const refuse = (what: string, expected: string): never => {
    throw new TypeError(`Cannot read the coordinator's job status: ${what} is not ${expected}`);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    refuse(path || "its answer", "an object");
  }
  const value = raw as Record<string, unknown>;
  const check = (
    key: string,
    expected: string,
    ok: (x: unknown) => boolean,
    o: { optional?: boolean } = {},
  ) => {
    if (o.optional && value[key] === undefined) return;
    if (!ok(value[key])) refuse(path ? `${path}.${key}` : key, expected);
  };
  /** A loss: a number, or JSON's null for a diverged one (NaN). */
  const loss = (key: string) => {
    if (value[key] === null) value[key] = NaN;
    check(key, "a number", isNumber);
  };
  return { value, check, loss };
}

const short = (hex: string) => `${hex.slice(0, 10)}…`;

/** The job's state line (terminal-safe: control characters shown as \xNN). */
export function stateLine(job: JobView): string {
  const id = `job ${job.jobId}`;
  if (job.status === "running") {
    const nodes = job.assigned?.length ?? job.assignedCount ?? "?";
    return printable(
      `${id} running: round ${job.round + 1} of ${job.rounds}, ${job.roundUpdates ?? "?"}/` +
        `${nodes} updates in; initial validation loss ${job.initialValLoss.toFixed(4)}`,
    );
  }
  if (job.status === "completed") {
    return printable(
      `${id} completed all ${job.rounds} rounds; rewards settle once its settlement delay ` +
        "is over (the coordinator retries every minute)",
    );
  }
  const f = job.finalize!;
  const last = job.metrics.at(-1)?.valLoss ?? job.initialValLoss;
  const model = job.modelFolderCid ? `; model artha://${job.modelFolderCid}` : "";
  return printable(
    `${id} finalized: validation loss ${job.initialValLoss.toFixed(4)} -> ${last.toFixed(4)} ` +
      `(improved ${(f.improvementBps / 100).toFixed(2)}%); paid ${formatEther(BigInt(f.paid))} ` +
      `ARTH to its nodes, refunded ${formatEther(BigInt(f.refund))} ARTH${model}`,
  );
}

/** The line of one closed round (terminal-safe). */
export function roundLine(job: JobView, i: number): string {
  const m = job.metrics[i]!;
  const before = job.metrics[i - 1]?.valLoss ?? job.initialValLoss;
  return printable(
    `  round ${m.round + 1}/${job.rounds} of ${short(job.jobId)} closed: validation loss ` +
      `${before.toFixed(4)} -> ${m.valLoss.toFixed(4)} (${m.updates} updates, ` +
      `${m.bytes.toLocaleString("en")} bytes)`,
  );
}

/**
 * The privacy line of a job with a budget: what its data owners were promised and have spent.
 * Found in the privacy audit: only the raw /status and the demo showed epsilon, so an owner read
 * "private" off a job whose budget meant no privacy at all.
 *
 * @example
 * ```ts
 * import { privacyLine } from "./job_status.ts";
 * const line = privacyLine({ epsilon: 1.234, delta: 1e-5, maxEpsilon: 8 });
 * console.assert(line === "  privacy: epsilon 1.23 of 8 spent (delta 1e-5), for the worst-off data owner");
 * ```
 */
export function privacyLine(p: NonNullable<JobView["privacy"]>): string {
  const eps = (x: number) => Number.isFinite(x) ? String(Number(x.toPrecision(3))) : String(x);
  return `  privacy: epsilon ${eps(p.epsilon)} of ${
    eps(p.maxEpsilon)
  } spent (delta ${p.delta.toExponential()}), ` +
    "for the worst-off data owner";
}

/** Everything known about a job, as lines: its state, its privacy, then each closed round. */
export function describeJob(job: JobView): string[] {
  const privacy = job.privacy ? [privacyLine(job.privacy)] : [];
  const rounds = job.metrics.map((_, i) => roundLine(job, i));
  const more = (job.metricCount ?? 0) - job.metrics.length;
  // The coordinator answers a page of rounds (its first 1,000): the rest is said, not dropped.
  const rest = more > 0
    ? [`  … and ${more} more closed rounds (job status --wait lists them)`]
    : [];
  return [stateLine(job), ...privacy, ...rounds, ...rest];
}

/** Options of {@link watchJob}. */
export interface WatchJobOptions {
  /** Gives up after this long (ms). */
  timeoutMs: number;
  pollMs?: number;
  log: (line: string) => void;
  /**
   * Called with each view before anything of it is logged; throws to stop the watch (the owner
   * checks every poll against the chain, not only the last: a coordinator could otherwise report
   * a job completed that the chain has open or cancelled, and keep the owner waiting).
   */
  check?: (view: JobView) => Promise<void> | void;
}

/**
 * Reports the job, then each round as it closes and each change of state, until it is
 * finalized; returns it. A coordinator briefly away is retried; an answer that is not a job's
 * status ({@link parseJobView}) or that `check` refuses ends the watch.
 *
 * @throws {Error} when the job is not finalized within `timeoutMs`
 */
export async function watchJob(
  coordinator: CoordinatorClient,
  jobId: Hex,
  options: WatchJobOptions,
): Promise<JobView> {
  const deadline = Date.now() + options.timeoutMs;
  /** The rounds reported so far: each poll asks for those after them only. */
  const seen: JobView["metrics"] = [];
  let state = "";
  for (;;) {
    let answer: unknown;
    const from = (seen.at(-1)?.round ?? -1) + 1;
    try {
      answer = await coordinator.getJson<unknown>(`/status?job=${jobId}&from=${from}`);
    } catch (e) {
      if (!isTransient(e) || Date.now() >= deadline) throw e;
      options.log(printable(`${(e as Error).message.split("\n")[0]}; retrying`));
      await new Promise((r) => setTimeout(r, 2000));
      continue;
    }
    // Outside the retry: a malformed answer is the coordinator's, not a network hiccup (a
    // TypeError, which isTransient takes for a failed fetch).
    // The rounds so far and the page's new ones (an older coordinator sends every round): the
    // whole history at every poll grew with the job, and stopped at the coordinator's page.
    const page = parseJobView(answer);
    const reported = seen.length;
    seen.push(...page.metrics.filter((m) => m.round >= from));
    const job: JobView = { ...page, metrics: [...seen] };
    await options.check?.(job);
    for (let i = reported; i < job.metrics.length; i++) options.log(roundLine(job, i));
    // Rounds past this page: the next poll asks at once, and the state waits for them.
    // Only while pages bring new rounds: a coordinator that ignores ?from= would spin it.
    const behind = seen.length > reported && seen.length < (page.metricCount ?? 0);
    if (behind && Date.now() < deadline) continue;
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

/** What the chain records of a job, to check the coordinator's view against. */
export interface ChainJobFacts {
  /** A JobStatus value. */
  status: number;
  /** Rounds closed on chain. */
  currentRound: number;
  latestCheckpointCid: string;
  achievedImprovementBps: number;
  /** The settlement's totals, once the job is finalized. */
  settlement?: { paid: bigint; refund: bigint };
}

/** Reads {@link ChainJobFacts} of `jobId`. */
export async function chainFacts(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex },
): Promise<ChainJobFacts> {
  const job = await readJob(client, params);
  const settled = job.status === JobStatus.Finalized
    ? await getJobSettlement(client, params)
    : undefined;
  return {
    status: job.status,
    currentRound: job.currentRound,
    latestCheckpointCid: job.latestCheckpointCid,
    achievedImprovementBps: job.achievedImprovementBps,
    settlement: settled && { paid: settled.paid, refund: settled.refund },
  };
}

/** A JobStatus value's name in lower case ("running", "finalized", ...). */
export function jobStatusName(status: number): string {
  return Object.entries(JobStatus).find(([, v]) => v === status)?.[0].toLowerCase() ??
    String(status);
}

/**
 * Where the coordinator's view of a job claims what the chain does not show, one sentence each;
 * empty when they agree. The chain may be ahead of the coordinator (it records a close or the
 * settlement just before the coordinator's own record), never behind it.
 */
export function disagreements(view: JobView, chain: ChainJobFacts): string[] {
  if (chain.status === JobStatus.None) return ["the chain has no such job"];
  const out: string[] = [];
  const closed = view.metricCount ?? view.metrics.length;
  if (closed > chain.currentRound) {
    out.push(`it reports ${closed} rounds closed, the chain ${chain.currentRound}`);
  }
  const onChain = jobStatusName(chain.status);
  // The coordinator assigns a job on chain before it records the job as started: a job it has
  // started is never open on chain, and a cancelled one never started.
  if (chain.status === JobStatus.Open || chain.status === JobStatus.Cancelled) {
    out.push(`it reports the job ${view.status}, the chain has it ${onChain}`);
  } else if (view.status === "finalized" && chain.status !== JobStatus.Finalized) {
    out.push(`it reports the job finalized, the chain has it ${onChain}`);
  }
  if (view.status === "completed" && chain.status === JobStatus.Running) {
    out.push(`it reports the job completed, the chain has it running`);
  }
  const sameRound = closed > 0 && closed === chain.currentRound;
  if (sameRound && view.globalCid && view.globalCid !== chain.latestCheckpointCid) {
    out.push(
      `its latest checkpoint ${view.globalCid} is not ${chain.latestCheckpointCid}, ` +
        "the one the chain closed on",
    );
  }
  const f = view.finalize, s = chain.settlement;
  if (f && s && (BigInt(f.paid) !== s.paid || BigInt(f.refund) !== s.refund)) {
    out.push(
      `it reports ${formatEther(BigInt(f.paid))} ARTH paid and ${
        formatEther(BigInt(f.refund))
      } refunded, the chain ${formatEther(s.paid)} and ${formatEther(s.refund)}`,
    );
  }
  if (f && s && f.improvementBps !== chain.achievedImprovementBps) {
    out.push(
      `it reports a ${(f.improvementBps / 100).toFixed(2)}% improvement, the chain ${
        (chain.achievedImprovementBps / 100).toFixed(2)
      }%`,
    );
  }
  return out;
}
