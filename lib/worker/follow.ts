/**
 * Following the jobs a worker trained for, while it waits: each round that closed (its
 * validation loss), what the open round waits for, and once the job is finalized its result and
 * this node's reward, read from the chain. Only what GET /status?job= shows; nothing here
 * changes state.
 *
 * @example
 * ```ts ignore
 * const follower = new JobFollower(coordinator, { client, addresses, nodePubkey }, emit);
 * follower.add(jobId);
 * await follower.follow("wait");
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { type CoordinatorClient, CoordinatorError } from "./client.ts";
import type { WorkerEvent } from "./events.ts";
import { jobReward } from "./rewards.ts";

/** The part of a job's status (GET /status?job=) a worker reads. */
interface JobView {
  jobId: Hex;
  status: "running" | "completed" | "finalized";
  round: number;
  rounds: number;
  assigned: Hex[];
  roundUpdates?: number;
  initialValLoss: number;
  metrics: { round: number; valLoss: number; updates: number }[];
  finalize?: { improvementBps: number };
}

/** Reports the progress of followed jobs as WorkerEvents. */
export class JobFollower {
  /** Followed jobs and how many of their closed rounds were reported. */
  readonly #jobs = new Map<Hex, number>();
  /** Followed jobs whose last status read failed (reported once until one succeeds). */
  readonly #failing = new Set<Hex>();

  constructor(
    readonly coordinator: CoordinatorClient,
    readonly chain: { client: ArthaClient; addresses: ArthaAddresses; nodePubkey: Hex },
    readonly emit: (event: WorkerEvent) => void,
  ) {}

  /** Follows `jobId` (a job this node trained for) until it is finalized. */
  add(jobId: Hex): void {
    const id = jobId.toLowerCase() as Hex;
    if (!this.#jobs.has(id)) this.#jobs.set(id, 0);
  }

  /**
   * Reports what changed in each followed job; `outcome` is what the worker's tick found. A job
   * whose status cannot be read or makes no sense is reported once and skipped: found in the
   * worker audit, one `valLoss: null` (a diverged round's NaN, as JSON has it) threw here at every
   * tick, before the task the tick had fetched ran, and the node never trained again.
   */
  async follow(outcome: "wait" | "idle" | "busy"): Promise<void> {
    let waiting = false;
    for (const [jobId, reported] of [...this.#jobs]) {
      try {
        waiting = await this.#followJob(jobId, reported, outcome !== "busy" && !waiting) ||
          waiting;
        this.#failing.delete(jobId);
      } catch (e) {
        this.#failed(jobId, e);
      }
    }
    if (outcome === "idle" && !waiting) this.emit({ kind: "waiting", reason: "job" });
  }

  /** Reports `jobId`'s new closed rounds, its end, or (when `sayWaiting`) what it waits for. */
  async #followJob(jobId: Hex, reported: number, sayWaiting: boolean): Promise<boolean> {
    // From the last round reported (its loss is the next one's previous): the whole history at
    // every tick grew with the job, and a job past the coordinator's page (1,000 rounds) stopped
    // being followed. An older coordinator answers every round; those before are skipped.
    const from = Math.max(0, reported - 1);
    const job = await this.coordinator.getJson<JobView>(`/status?job=${jobId}&from=${from}`);
    const page = Array.isArray(job?.metrics) ? job.metrics : [];
    const metrics = page.filter((m) => m?.round >= from);
    const fresh = metrics.filter((m) => m.round >= reported);
    fresh.forEach((m, i) => {
      const before = i > 0 ? fresh[i - 1] : metrics.find((p) => p.round === m.round - 1);
      const previousLoss = before?.valLoss ?? job.initialValLoss;
      const { round, valLoss, updates } = m;
      this.emit({
        kind: "roundClosed",
        jobId,
        round,
        rounds: job.rounds,
        valLoss,
        previousLoss,
        updates,
      });
    });
    this.#jobs.set(jobId, Math.max(reported, ...fresh.map((m) => m.round + 1)));
    // Finalized once every round is reported: a follower behind by more than a page (added late
    // to a long job) reads the next page first, and the final loss is the last round's.
    const count = (job as { metricCount?: unknown }).metricCount;
    const caughtUp = typeof count !== "number" || this.#jobs.get(jobId)! >= count;
    if (job.status === "finalized" && caughtUp) {
      this.#jobs.delete(jobId);
      await this.#finalized({ ...job, metrics });
      return false;
    }
    if (!sayWaiting) return false;
    this.emit(
      job.status === "completed" ? { kind: "waiting", reason: "settlement", jobId } : {
        kind: "waiting",
        reason: "round",
        jobId,
        round: job.round,
        rounds: job.rounds,
        updates: job.roundUpdates,
        expected: Array.isArray(job.assigned) ? job.assigned.length : undefined,
      },
    );
    return true;
  }

  /** Says once why `jobId` cannot be followed; a job the coordinator does not know is dropped. */
  #failed(jobId: Hex, e: unknown): void {
    const gone = e instanceof CoordinatorError && e.status === 404;
    if (gone) this.#jobs.delete(jobId);
    else if (this.#failing.has(jobId)) return;
    else this.#failing.add(jobId);
    const what = gone ? "no longer followed" : "followed again at the next tick";
    const why = (e as Error).message?.split("\n")[0] ?? String(e);
    this.emit({ kind: "error", message: `cannot follow job ${jobId} (${what}): ${why}` });
  }

  async #finalized(job: JobView): Promise<void> {
    const { client, addresses, nodePubkey } = this.chain;
    const { reward, claimable } = await jobReward(client, {
      addresses,
      jobId: job.jobId,
      nodePubkey,
    });
    this.emit({
      kind: "finalized",
      jobId: job.jobId,
      initialValLoss: job.initialValLoss,
      finalValLoss: job.metrics.at(-1)?.valLoss ?? job.initialValLoss,
      improvementBps: job.finalize?.improvementBps ?? 0,
      reward,
      claimable,
    });
  }
}
