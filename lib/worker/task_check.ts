/**
 * Whether a task the coordinator hands out is one the chain backs. The worker does not trust the
 * coordinator: a task for a job that is not running, a spec that is not the one its owner
 * escrowed (its localSteps and model are what the node spends hours and stake-backed commits
 * on), a round that is not the open one or a node the job did not assign would have the node
 * train for nothing, or for a job nobody pays. Its inputs are bound too: the starting weights
 * must be the checkpoint the chain closed the last round with (the spec's initial weights in
 * round 0), the shard one of the spec's, and in a task group (redundancy) the seed and shard must
 * be the group's task (and its slot, the partition codec's part). Otherwise a coordinator could
 * give one member of a group other inputs than the rest and have that honest node slashed as the
 * group's outlier. A verified job's task holder outside every group is refused: nothing on chain
 * says which inputs are its, so a tampered seed got it slashed by the coordinator's recomputation.
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
import { getTaskGroup } from "../chain/get_task_group.ts";
import { isAssigned } from "../chain/is_assigned.ts";
import { readJob } from "../chain/read_job.ts";
import {
  type JobSpec,
  jobSpecHash,
  MAX_STEP_FLOPS,
  roundHyper,
  stepFlops,
  taskSeed,
  taskShard,
} from "../job/job_spec.ts";
import type { TrainTask, ValidationTask } from "./task.ts";
import { getRoundCheckpoint } from "../chain/get_round_checkpoint.ts";
import { jobStartBlock } from "../chain/job_start_block.ts";
import { readCommittee } from "../chain/read_committee.ts";
import { getAttestation } from "../chain/get_attestation.ts";
import { chooseTrainer, fitsWasmMemory, MAX_STEP_LINEAR_BYTES } from "../job/planner.ts";
import { codecFor } from "../strategy/select.ts";
import { paramLayout } from "../../kernel/params.ts";

/** Why `task` is not the chain's (undefined: it is), read from the node's own chain client. */
export async function refuseTask(
  client: ArthaClient,
  p: { addresses: ArthaAddresses; nodePubkey: Hex; task: TrainTask; spec: JobSpec },
): Promise<string | undefined> {
  const { addresses, task, spec } = p;
  const jobId = task.jobId;
  const at = { addresses, jobId, nodePubkey: p.nodePubkey };
  const [job, assigned, group] = await Promise.all([
    readJob(client, { addresses, jobId }),
    isAssigned(client, at),
    getTaskGroup(client, at),
  ]);
  if (job.status !== JobStatus.Running) return `job ${jobId} is not running on chain`;
  if (jobSpecHash(p.spec) !== job.paramsHash) {
    return `spec ${task.specCid} is not the one job ${jobId} escrowed (paramsHash)`;
  }
  // The chain draws step challenges below its own steps per round; past the spec's localSteps
  // no record of this node's would answer them.
  if (spec.localSteps !== job.stepsPerRound) {
    return `job ${jobId} escrowed ${job.stepsPerRound} steps a round, its spec trains ` +
      `${spec.localSteps}`;
  }
  if (task.round !== job.currentRound) {
    return `round ${task.round} is not job ${jobId}'s open round ${job.currentRound}`;
  }
  if (!assigned) return `this node holds no task of job ${jobId} on chain`;
  const start = task.round === 0 ? spec.initialWeights : job.latestCheckpointCid;
  if (task.globalCid !== start) {
    return `weights ${task.globalCid} are not the checkpoint round ${task.round} starts from (${start})`;
  }
  if (spec.shards[task.shard.index]?.cid !== task.shard.cid) {
    return `shard ${task.shard.cid} is not shard ${task.shard.index} of the spec`;
  }
  // A verified job puts every task holder in a task group (a reassigned one in its
  // predecessor's); without one, nothing says which seed, shard and slot are this node's.
  if (spec.verification && group === 0) {
    return `this node is in no task group of job ${jobId} on chain`;
  }
  // In a task group the task is the group's (group g trains task g - 1), as every member's is.
  if (
    group > 0 && (task.seed !== taskSeed(spec, group - 1) ||
      task.shard.index !== taskShard(spec, group - 1))
  ) {
    return `seed ${task.seed} and shard ${task.shard.index} are not task group ${group}'s`;
  }
  // The slot is the group's too (the partition codec's part): a node sent another part than its
  // group would deliver an update intake refuses, then be challenged for its commit.
  if (group > 0 && task.slot !== group - 1) {
    return `slot ${task.slot} is not task group ${group}'s (${group - 1})`;
  }
  return undefined;
}

/**
 * Why a committee member should not recompute `task` (undefined: the chain backs it). A
 * coordinator (or a man in the middle) handing the committee another seed, shard, slot, spec or
 * starting checkpoint than the target's would have every honest member attest the same wrong
 * hash, a majority that settles the honest target as faked (50% of its stake).
 */
export async function refuseValidation(
  client: ArthaClient,
  p: { addresses: ArthaAddresses; nodePubkey: Hex; task: ValidationTask; spec: JobSpec },
): Promise<string | undefined> {
  const { addresses, task, spec } = p;
  const jobId = task.jobId;
  const read = readJob(client, { addresses, jobId });
  // The scan starts at the job's first block: from block 0, a long chain's scan took thousands of
  // capped log queries for every task (found in the coordinator audit).
  const closed = async (round: number) => {
    const fromBlock = await jobStartBlock(client, jobId, (await read).createdAt);
    return await getRoundCheckpoint(client, { addresses, jobId, round, fromBlock });
  };
  const member = p.nodePubkey.toLowerCase() as Hex;
  const attested = { addresses, jobId, round: task.round, member, target: task.target };
  const [job, group, start, committee, now, mine] = await Promise.all([
    read,
    getTaskGroup(client, { addresses, jobId, nodePubkey: task.target }),
    task.round === 0 ? Promise.resolve(spec.initialWeights) : closed(task.round - 1),
    readCommittee(client, { addresses, jobId, round: task.round }),
    client.getBlock().then((b) => Number(b.timestamp)),
    getAttestation(client, attested),
  ]);
  // Found in the worker audit: a target this node attested already, offered again, was
  // recomputed (a round's training) and re-attested in a loop with no pause between.
  if (mine !== 0n) {
    return `this node attested target ${task.target} of round ${task.round} already`;
  }
  // Found in the worker audit: a coordinator could hand out validation tasks whose attestation
  // the chain refuses (no member, window over), each a round's recomputation for nothing.
  if (!committee.members.includes(member)) {
    return `this node is not on round ${task.round}'s committee of job ${jobId}`;
  }
  if (now >= committee.deadline) {
    return `round ${task.round}'s committee window ended at ${committee.deadline} (chain time)`;
  }
  if (jobSpecHash(spec) !== job.paramsHash) {
    return `spec ${task.specCid} is not the one job ${jobId} escrowed (paramsHash)`;
  }
  if (task.checkpointCid !== start) {
    return `checkpoint ${task.checkpointCid} is not the one round ${task.round} started from ` +
      `(${start ?? "none on chain"})`;
  }
  if (spec.shards[task.shard.index]?.cid !== task.shard.cid) {
    return `shard ${task.shard.cid} is not shard ${task.shard.index} of the spec`;
  }
  if (spec.verification && group === 0) {
    return `target ${task.target} is in no task group of job ${jobId} on chain`;
  }
  const want = group - 1;
  if (
    group > 0 &&
    (task.seed !== taskSeed(spec, want) || task.shard.index !== taskShard(spec, want) ||
      task.slot !== want)
  ) {
    return `seed, shard or slot is not target ${task.target}'s task group ${group}'s`;
  }
  return undefined;
}

/**
 * Why this machine cannot train a round of `spec` within `budget` bytes (undefined: it can): the
 * step's memory as the planner sizes it for the trainer the worker would pick (resident or
 * offload: weights, gradient, optimizer state, activations, the in and out copies). Checked
 * before the task's weights are fetched: a job owner's batch of 8,192 x 1,024 on a small model,
 * or a coordinator's 2.6-billion-parameter "checkpoint", would otherwise be allocated until the
 * machine ran out of memory (taking other programs with it), round after round. The trainer's
 * workspace must also fit the kernel's 32-bit WASM memory, however much RAM there is: found in the
 * kernel audit, a tiny model with a batch of 32,768 x 64 passed the RAM check and then failed on
 * memory.grow at every retry.
 */
export function refuseMemory(
  spec:
    & Pick<JobSpec, "optimizer" | "model" | "batch" | "rounds" | "localSteps">
    & Partial<Pick<JobSpec, "compression" | "seed">>,
  round: number,
  options: { budget: number; threads?: number },
): string | undefined {
  const hyper = roundHyper(spec, round);
  const choice = chooseTrainer(hyper, { threads: options.threads });
  // The step's sampled tokens and targets (an Int32 each per position): found in the worker
  // audit, a job's accumSteps multiplied them past any budget the plan of one micro-batch saw.
  const need = choice[choice.kind].total + 8 * hyper.B * hyper.T * hyper.accumSteps +
    residualBytes(spec, round);
  if (need > options.budget) {
    return `a step of this job needs ${size(need)} (${choice.kind} trainer), more than the ` +
      `${size(options.budget)} this worker may use (--max-memory)`;
  }
  // Whatever the machine's RAM, the kernel's workspace lives in one 32-bit WASM memory.
  const plan = choice[choice.kind];
  if (fitsWasmMemory(plan)) return undefined;
  return `a step of this job needs ${size(plan.linearBytes)} of WASM memory (${choice.kind} ` +
    `trainer), more than the ${size(MAX_STEP_LINEAR_BYTES)} a kernel's 32-bit memory gives a step`;
}

/**
 * The error-feedback residual a round of `spec` holds besides the step: the job's (an f32 a
 * parameter, kept between rounds) and the copy the update is encoded into. Found in the worker
 * audit: refuseMemory counted the step alone, so a compressed job fit the budget it then passed.
 */
function residualBytes(
  spec: Pick<JobSpec, "model"> & Partial<Pick<JobSpec, "compression" | "seed">>,
  round: number,
): number {
  if (!spec.compression) return 0;
  const codec = codecFor(spec.compression, { jobSeed: spec.seed ?? 0, round, slot: 0 });
  return codec.stateless ? 0 : 2 * 4 * paramLayout(spec.model).size;
}

/**
 * Why a step of `spec` is more work than a worker may do between its heartbeats, if it is.
 *
 * @example
 * ```ts
 * import { refuseStepWork } from "./task_check.ts";
 * const model = { kind: "gpt", vocab: 256, maxT: 32, width: 32, heads: 2, layers: 1 } as const;
 * const batch = { B: 8, T: 32, accumSteps: 1_000_000 };
 * console.assert(refuseStepWork({ model, batch })!.includes("TFLOP"));
 * ```
 */
export function refuseStepWork(spec: Pick<JobSpec, "model" | "batch">): string | undefined {
  const tokens = spec.batch.B * spec.batch.T * spec.batch.accumSteps;
  const flops = stepFlops(spec);
  if (flops <= MAX_STEP_FLOPS) return undefined;
  return `a step of this job is ~${(flops / 1e12).toFixed(1)} TFLOP (${tokens} tokens), more ` +
    `than a worker does between its heartbeats (${MAX_STEP_FLOPS / 1e12} TFLOP)`;
}

/** Bytes in the largest binary unit that keeps them at 1 or more (one decimal). */
function size(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (i < units.length - 1 && bytes >= 1024 ** (i + 1)) i++;
  return i === 0 ? `${bytes} bytes` : `${(bytes / 1024 ** i).toFixed(1)} ${units[i]}`;
}
