/**
 * Whether a task the coordinator hands out is one the chain backs. The worker does not trust the
 * coordinator: a task for a job that is not running, a spec that is not the one its owner
 * escrowed (its localSteps and model are what the node spends hours and stake-backed commits
 * on), a round that is not the open one or a node the job did not assign would have the node
 * train for nothing, or for a job nobody pays.
 *
 * @example
 * ```ts ignore
 * const why = await refuseTask(client, { addresses, nodePubkey, task, spec });
 * if (why) console.error(`task refused: ${why}`);
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { type ArthaAddresses, JobStatus } from "../chain/contracts.ts";
import { isAssigned } from "../chain/is_assigned.ts";
import { readJob } from "../chain/read_job.ts";
import { type JobSpec, jobSpecHash } from "../job/job_spec.ts";
import type { TrainTask } from "./task.ts";

/** Why `task` is not the chain's (undefined: it is), read from the node's own chain client. */
export async function refuseTask(
  client: ArthaClient,
  p: { addresses: ArthaAddresses; nodePubkey: Hex; task: TrainTask; spec: JobSpec },
): Promise<string | undefined> {
  const { addresses, task } = p;
  const jobId = task.jobId;
  const [job, assigned] = await Promise.all([
    readJob(client, { addresses, jobId }),
    isAssigned(client, { addresses, jobId, nodePubkey: p.nodePubkey }),
  ]);
  if (job.status !== JobStatus.Running) return `job ${jobId} is not running on chain`;
  if (jobSpecHash(p.spec) !== job.paramsHash) {
    return `spec ${task.specCid} is not the one job ${jobId} escrowed (paramsHash)`;
  }
  if (task.round !== job.currentRound) {
    return `round ${task.round} is not job ${jobId}'s open round ${job.currentRound}`;
  }
  if (!assigned) return `this node holds no task of job ${jobId} on chain`;
  return undefined;
}
