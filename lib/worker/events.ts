/**
 * What a worker tells whoever watches it (worker.ts prints these; lib/worker/view.ts formats
 * them): registration, each local step with its loss and speed, each submitted round, what it
 * waits for, each closed round's validation loss, the job's result with this node's reward, and
 * retries while the coordinator or the chain is away.
 *
 * @example
 * ```ts
 * import type { WorkerEvent } from "./events.ts";
 * const e: WorkerEvent = { kind: "waiting", reason: "job" };
 * console.assert(e.kind === "waiting");
 * ```
 */
import type { Hex } from "viem";
import type { LocalResult } from "../round/local_training.ts";

/** One thing a worker did or saw. */
export type WorkerEvent =
  | {
    kind: "registered";
    stake: bigint;
    /** True when this call staked and registered the key; false: it already was. */
    registered?: boolean;
    nodePubkey?: Hex;
    operator?: Hex;
  }
  | {
    kind: "step";
    jobId: Hex;
    round: number;
    step: number;
    steps: number;
    loss: number;
    /** Training speed over the round's steps so far (0 before the second step). */
    tokensPerSecond?: number;
  }
  | {
    kind: "submitted";
    jobId: Hex;
    round: number;
    result: Pick<LocalResult, "meanLoss" | "samples">;
    bytes: number;
  }
  | {
    kind: "waiting";
    /** job: no task for this node; round: its update is in, the round is open; settlement: the
     * job's rounds are done, its rewards not yet settled. */
    reason: "job" | "round" | "settlement";
    jobId?: Hex;
    round?: number;
    rounds?: number;
    updates?: number;
    expected?: number;
  }
  | {
    kind: "roundClosed";
    jobId: Hex;
    round: number;
    rounds: number;
    valLoss: number;
    /** The validation loss before this round. */
    previousLoss: number;
    updates: number;
  }
  | {
    kind: "finalized";
    jobId: Hex;
    initialValLoss: number;
    finalValLoss: number;
    improvementBps: number;
    /** This node's reward from the job, and what its operator may withdraw now (wei). */
    reward: bigint;
    claimable: bigint;
  }
  | { kind: "retrying"; message: string; inMs: number }
  | { kind: "error"; message: string };
