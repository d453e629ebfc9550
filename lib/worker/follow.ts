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
import type { CoordinatorClient } from "./client.ts";
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

  /** Reports what changed in each followed job; `outcome` is what the worker's tick found. */
  async follow(outcome: "wait" | "idle" | "busy"): Promise<void> {
    let waiting = false;
    for (const [jobId, reported] of [...this.#jobs]) {
      const job = await this.coordinator.getJson<JobView>(`/status?job=${jobId}`);
      const metrics = job.metrics ?? [];
      metrics.slice(reported).forEach((m, i) => {
        const previousLoss = metrics[reported + i - 1]?.valLoss ?? job.initialValLoss;
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
      this.#jobs.set(jobId, metrics.length);
      if (job.status === "finalized") {
        this.#jobs.delete(jobId);
        await this.#finalized(job);
      } else if (outcome !== "busy" && !waiting) {
        waiting = true;
        this.emit(
          job.status === "completed" ? { kind: "waiting", reason: "settlement", jobId } : {
            kind: "waiting",
            reason: "round",
            jobId,
            round: job.round,
            rounds: job.rounds,
            updates: job.roundUpdates,
            expected: job.assigned.length,
          },
        );
      }
    }
    if (outcome === "idle" && !waiting) this.emit({ kind: "waiting", reason: "job" });
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
