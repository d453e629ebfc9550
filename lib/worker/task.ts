/**
 * The task wire types: what GET /assign?node= answers a worker (train, aggregate a cluster,
 * validate a committee target, or nothing yet). Each type is declared once; the coordinator
 * builds these and the worker reads them.
 *
 * @example
 * ```ts
 * import type { TaskResponse } from "./task.ts";
 * const response: TaskResponse = { status: "idle" };
 * console.assert(response.status === "idle");
 * ```
 */
import type { Hex } from "viem";
import type { ClusterTask } from "../round/cluster_task.ts";
import type { ValidationTask } from "../verify/validation_task.ts";

export type { ClusterMember, ClusterTask } from "../round/cluster_task.ts";
export type { ValidationTask } from "../verify/validation_task.ts";

/** A node's training task for one round. */
export interface TrainTask {
  status: "task";
  jobId: Hex;
  round: number;
  specCid: string;
  /** The round's starting checkpoint. */
  globalCid: string;
  shard: { index: number; name: string; cid: string };
  seed: number;
  /** The node's slot in the job (task group index): the partition codec's part. */
  slot: number;
}

/** Nothing to do: `wait` for the open round to close, `idle` when no job needs this node. */
export interface NoTask {
  status: "wait" | "idle";
}

/** Everything GET /assign?node= may answer. */
export type TaskResponse = NoTask | TrainTask | ClusterTask | ValidationTask;

/** The error code of an update for a round that no longer (or not yet) takes updates: the
 * refusal the worker acts on (it waits for the next task). */
export const ROUND_NOT_OPEN = "ROUND_NOT_OPEN";
/** The error code of an asynchronous job's stale update that already counted in a later round:
 * a re-post of it is delivered, not lost. */
export const UPDATE_COUNTED = "UPDATE_COUNTED";
/** The code of an update the coordinator could not read back (collected meanwhile): upload again. */
export const UPDATE_UNREADABLE = "UPDATE_UNREADABLE";
