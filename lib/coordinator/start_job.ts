/**
 * Starting a job: the coordinator reads it from AIJobManager, checks keccak256(spec) equals
 * the escrowed paramsHash and that the plan fits (privacy budget, partition parts), picks bound,
 * live nodes the model fits, assigns them on chain (with task groups under a verification
 * policy) and records the job in KV. Idempotent: a job already started is returned as it is.
 */
import { keepJobDataPrivate, refuseJobData } from "./svdb_private.ts";
import type { Hex } from "viem";
import { assignNodes } from "../chain/assign_nodes.ts";
import { JobStatus } from "../chain/contracts.ts";
import { getJobNodes } from "../chain/get_job_nodes.ts";
import { getModel } from "../chain/get_model.ts";
import { getTaskGroup } from "../chain/get_task_group.ts";
import { readJob, type ReadJobReturnType } from "../chain/read_job.ts";
import { ChainCallError, SentUnconfirmedError } from "../chain/send_contract.ts";
import { DEFAULT_PARTS } from "../compress/partition.ts";
import { digestHex } from "../crypto/digest.ts";
import { encodeJobSpec, type JobSpec } from "../job/job_spec.ts";
import { checkPrivacyBudget, PrivacyBudgetError } from "../job/privacy_plan.ts";
import { setTaskGroups } from "../verify/challenge_chain.ts";
import type { Context } from "./context.ts";
import { evaluateWeights, type Evaluation, loadSpec, loadWeights } from "./job.ts";
import { paramLayout } from "../../kernel/params.ts";
import { eligibleNodes, jobNodeSeed } from "./nodes.ts";
import { reject, type Rejection } from "./result.ts";
import {
  getJob,
  type JobHead,
  jobKey,
  type JobRecord,
  setAssignment,
  setJob,
  withAssignment,
} from "./state.ts";
import { keepJobData } from "./svdb_retention.ts";

/** Most nodes assigned per transaction (keeps each assign well under the block gas limit). */
export const ASSIGN_BATCH = 100;

export interface StartJobParameters {
  jobId: Hex;
  specCid: string;
  /** ModelRegistry id the coordinator adds each round's checkpoint to. */
  modelId?: Hex;
  /** Who signed the request (lib/coordinator/signed_request.ts): the job's owner on chain, or
   * the coordinator's own account. */
  requester: Hex;
}

const refuse = (status: number, code: string, why: string) =>
  reject(status, code, `Cannot assign: ${why}`);

/** Starts a job: verifies the spec against the chain, assigns nodes, records it in KV. */
export async function startJob(
  ctx: Context,
  params: StartJobParameters,
): Promise<{ ok: true; job: JobRecord } | Rejection> {
  const existing = await getJob(ctx.kv, params.jobId);
  if (existing.value) {
    const stranger = checkRequester(ctx, params, existing.value.owner);
    return stranger ?? { ok: true, job: await withAssignment(ctx.kv, existing.value) };
  }
  const { client, addresses } = ctx.chain;
  const onChain = await readJob(client, { addresses, jobId: params.jobId });
  const closed = checkJob(onChain);
  if (closed) return closed;
  const stranger = checkRequester(ctx, params, onChain.owner);
  if (stranger) return stranger;
  let spec: JobSpec;
  try {
    spec = await loadSpec(ctx.store, params.specCid);
  } catch (e) {
    return refuse(400, "BAD_SPEC", `spec ${params.specCid}: ${(e as Error).message}`);
  }
  const refusal = checkSpec(spec, onChain) ?? checkBudget(spec, onChain.nodesWanted) ??
    await checkModel(ctx, params, onChain.owner);
  if (refusal) return refusal;
  const chosen = await chooseNodes(ctx, params.jobId, spec, onChain);
  // Only before any node is assigned: found reviewing this, a start cut short after its first
  // batch (the job Running, no longer cancellable) could then never finish once a chosen node
  // left, and the nodes already assigned waited for a job that never opened.
  const wanted = onChain.status === JobStatus.Open ? onChain.nodesWanted : 1;
  const unfit = checkNodes(spec, chosen, wanted) ?? await refuseJobData(ctx, onChain.owner, spec);
  if (unfit) return unfit;
  const data = await checkJobData(ctx, spec);
  if (!data.ok) return data;
  // Before any assign: every event of the job the coordinator scans for comes after it.
  const startBlock = Number(await ctx.chain.client.getBlockNumber());
  await keepJobData(ctx, params.specCid, spec); // uploads are only leased; the job needs them
  await keepJobDataPrivate(ctx, params.jobId, onChain.owner, spec);
  let taskOf: Record<string, number>;
  try {
    taskOf = await assignOnChain(ctx, params.jobId, spec, chosen);
  } catch (e) {
    // Handed to the node, its fate unknown: a start is resumed where the chain has it (assigned
    // nodes are read back, never assigned twice), so its caller retries. As a 409 the owner's
    // CLI gave up on a start that may well have assigned the job (found in the chain audit).
    if (e instanceof SentUnconfirmedError) return reject(503, "CHAIN_UNCONFIRMED", e.message);
    if (!(e instanceof ChainCallError)) throw e;
    return reject(409, "CHAIN_CALL_FAILED", e.message);
  }
  const started = { owner: onChain.owner, before: data.before, chosen, taskOf, startBlock };
  const job = await recordJob(ctx, params, spec, started);
  return { ok: true, job };
}

/**
 * The job's nodes: those the chain has assigned already, in its order, then eligible ones up to
 * `nodesWanted`. A start whose later assign batch reverted (a chosen node deactivated meanwhile)
 * left the job Running with its first batches assigned; found in the coordinator audit, the
 * retry chose afresh from whoever was eligible then, so an assigned node that had deactivated in
 * between got no place in the job's record: authorised on chain to commit every round, it was
 * never challenged, grouped or judged, and paid at finalize.
 */
async function chooseNodes(
  ctx: Context,
  jobId: Hex,
  spec: JobSpec,
  onChain: ReadJobReturnType,
): Promise<Hex[]> {
  const { client, addresses } = ctx.chain;
  const assigned = await getJobNodes(client, { addresses, jobId });
  const taken = new Set<string>(assigned);
  const seed = jobNodeSeed(jobId, onChain.createdAt);
  const eligible = (await eligibleNodes(ctx, spec, seed))
    .map((n) => n.nodePubkey.toLowerCase() as Hex)
    .filter((n) => !taken.has(n));
  return [...assigned, ...eligible].slice(0, Math.max(onChain.nodesWanted, assigned.length));
}

/**
 * Only the job's owner (or the coordinator) starts it: when a job starts decides which nodes get
 * it (those registered and live then, up to nodesWanted), so whoever could start somebody else's
 * job early, with only its own nodes registered, took the job's reward pools.
 */
function checkRequester(
  ctx: Context,
  params: StartJobParameters,
  owner: Hex,
): Rejection | undefined {
  const who = params.requester.toLowerCase();
  if (who === owner.toLowerCase()) return undefined;
  if (who === ctx.chain.client.account.address.toLowerCase()) return undefined;
  const why = `job ${params.jobId} is started by its owner ${owner}; this request is signed by ` +
    params.requester;
  return refuse(403, "NOT_JOB_OWNER", why);
}

function checkJob(job: ReadJobReturnType): Rejection | undefined {
  if (job.status === JobStatus.None) return refuse(404, "UNKNOWN_JOB", "unknown job");
  if (job.status !== JobStatus.Open && job.status !== JobStatus.Running) {
    return refuse(409, "JOB_NOT_OPEN", `job status is ${job.status}`);
  }
  return undefined;
}

function checkSpec(spec: JobSpec, job: ReadJobReturnType): Rejection | undefined {
  if (digestHex(encodeJobSpec(spec)) !== job.paramsHash) {
    return refuse(409, "SPEC_MISMATCH", "spec does not hash to the job's paramsHash");
  }
  if (spec.rounds !== job.rounds) return refuse(409, "SPEC_MISMATCH", "rounds differ from chain");
  // Step challenges are drawn below the chain's steps per round: an owner who escrowed more
  // steps than its spec trains would have every honest node fail the ones past its records.
  if (spec.localSteps !== job.stepsPerRound) {
    const why = `localSteps ${spec.localSteps} differ from the chain's stepsPerRound ` +
      job.stepsPerRound;
    return refuse(409, "SPEC_MISMATCH", why);
  }
  return undefined;
}

/**
 * The model the coordinator adds each round's checkpoint to must be the job owner's model of
 * this job: `modelId` comes from whoever starts the job, and the coordinator publishes to the
 * models of every owner who made it a publisher, so another job could otherwise fill (and
 * block with a later round) somebody else's model. One the coordinator may not add to would
 * silently get no checkpoints.
 */
async function checkModel(
  ctx: Context,
  params: StartJobParameters,
  owner: Hex,
): Promise<Rejection | undefined> {
  if (!params.modelId) return undefined;
  const { client, addresses } = ctx.chain;
  const model = await getModel(client, {
    addresses,
    modelId: params.modelId,
    publisher: client.account.address,
  });
  const id = params.modelId;
  if (BigInt(model.owner) === 0n) return refuse(404, "UNKNOWN_MODEL", `no model ${id}`);
  if (
    model.owner.toLowerCase() !== owner.toLowerCase() ||
    model.jobId.toLowerCase() !== params.jobId.toLowerCase()
  ) {
    const why = `model ${id} belongs to ${model.owner} for job ${model.jobId}, ` +
      `not to this job's owner ${owner} for job ${params.jobId}`;
    return refuse(403, "FOREIGN_MODEL", why);
  }
  if (model.publisher || model.owner.toLowerCase() === client.account.address.toLowerCase()) {
    return undefined;
  }
  const why = `the coordinator ${client.account.address} may not add checkpoints to model ${id}` +
    " (ModelRegistry.setPublisher first)";
  return refuse(409, "NOT_PUBLISHER", why);
}

/** Refuses up front a job whose worst-off data owner would spend more than its budget. */
export function checkBudget(spec: JobSpec, nodes: number): Rejection | undefined {
  try {
    checkPrivacyBudget(spec, Math.max(1, nodes));
    return undefined;
  } catch (e) {
    if (!(e instanceof PrivacyBudgetError)) throw e;
    return reject(409, e.code, e.message);
  }
}

/**
 * As many nodes must fit as the owner escrowed for; with the partition codec each task group
 * sends one part, so with fewer groups than parts some coordinates would not move at all in a
 * round. The job stays open (cancelJob refunds it) or waits for nodes.
 */
export function checkNodes(
  spec: JobSpec,
  chosen: readonly string[],
  wanted: number,
): Rejection | undefined {
  if (chosen.length === 0) {
    return refuse(409, "NO_ELIGIBLE_NODES", "no bound, live node fits this job");
  }
  // Found in the job owner audit: a job started with whoever fitted, one node of the three
  // escrowed for (perhaps the attacker's), which then took the whole step, round and accuracy
  // pools: the owner paid 2.7x per unit of work.
  if (chosen.length < wanted) {
    return refuse(
      409,
      "TOO_FEW_NODES",
      `${chosen.length} bound, live nodes fit this job, of the ${wanted} it was escrowed for: ` +
        "start it again once more are live, or cancel it (the whole budget back)",
    );
  }
  if (spec.compression?.codec !== "partition") return undefined;
  const r = spec.verification?.redundancy ?? 1;
  const groups = Math.ceil(chosen.length / r);
  const parts = spec.compression.parts ?? DEFAULT_PARTS;
  if (parts <= groups) return undefined;
  return refuse(
    409,
    "TOO_FEW_TASK_GROUPS",
    `compression.parts ${parts} exceeds the ${groups} task groups of ` +
      `${chosen.length} nodes at redundancy ${r}; use parts <= ${groups} or more nodes`,
  );
}

/**
 * Assigns the chosen nodes on chain (those not assigned yet, in batches) and returns each
 * node's task: with a verification policy `redundancy` consecutive nodes share one task (shard,
 * seed, starting weights) and the chain learns who shares what (task group = task + 1), for
 * redundancy settlement and disputes; every other node has a task of its own, so nodes that
 * outnumber the shards draw different batches instead of repeating each other's work.
 */
async function assignOnChain(
  ctx: Context,
  jobId: Hex,
  spec: JobSpec,
  chosen: Hex[],
): Promise<Record<string, number>> {
  const { client, addresses } = ctx.chain;
  const already = new Set(await getJobNodes(client, { addresses, jobId }));
  const todo = chosen.filter((n) => !already.has(n));
  for (let i = 0; i < todo.length; i += ASSIGN_BATCH) {
    await assignNodes(client, { addresses, jobId, nodes: todo.slice(i, i + ASSIGN_BATCH) });
  }
  const r = spec.verification?.redundancy ?? 1;
  const taskOf = Object.fromEntries(chosen.map((n, i) => [n, Math.floor(i / r)]));
  if (!spec.verification) return taskOf;
  const grouped = await Promise.all(
    chosen.map((nodePubkey) => getTaskGroup(client, { addresses, jobId, nodePubkey })),
  );
  const fresh = chosen.filter((_, i) => grouped[i] === 0);
  if (fresh.length > 0) {
    const groups = fresh.map((n) => taskOf[n]! + 1);
    await setTaskGroups(client, { addresses, jobId, nodes: fresh, groups });
  }
  return taskOf;
}

/**
 * Everything the job reads is in this store and usable, checked before the chain assigns: once
 * Running, a job cannot be cancelled, and a spec whose validation could not be evaluated, or
 * whose shard's upload lease had run out, left the owner's escrow locked behind a 500.
 */
async function checkJobData(
  ctx: Context,
  spec: JobSpec,
): Promise<{ ok: true; before: Evaluation } | Rejection> {
  const cids = [spec.initialWeights, spec.validation, ...spec.shards.map((s) => s.cid)];
  const missing = [];
  for (const cid of new Set(cids)) {
    if (!await ctx.store.has(cid).catch(() => false)) missing.push(cid);
  }
  if (missing.length > 0) {
    const why = `${missing.join(", ")} not in this coordinator's SVDB: upload and start again`;
    return refuse(409, "DATA_MISSING", why);
  }
  try {
    // From the root's declared size, nothing else read. A shard shorter than one sequence and
    // its next byte had every node throw at its first batch, every round, escrow locked behind
    // (found in the data owner audit).
    const need = spec.batch.T + 2;
    for (const shard of spec.shards) {
      const { size } = await ctx.store.open(shard.cid, { maxBytes: Number.MAX_SAFE_INTEGER });
      if (size < need) {
        throw new RangeError(
          `shard ${shard.name} (${shard.cid}) holds ${size} bytes, fewer than one training ` +
            `sequence needs (batch.T + 2 = ${need})`,
        );
      }
    }
    const initial = await loadWeights(ctx.store, spec.initialWeights);
    const size = paramLayout(spec.model).size;
    if (initial.length !== size) {
      throw new RangeError(`initial weights hold ${initial.length} values, the model ${size}`);
    }
    // Found in the browser audit: one NaN weight made every loss NaN (null in /status), and the
    // job ran on, paid, to a model that is no model.
    const bad = initial.findIndex((w) => !Number.isFinite(w));
    if (bad >= 0) throw new RangeError(`initial weight ${bad} is ${initial[bad]}, not finite`);
    return { ok: true, before: await evaluateWeights(ctx.store, spec, initial) };
  } catch (e) {
    return refuse(422, "BAD_JOB_DATA", (e as Error).message);
  }
}

/**
 * Records the started job in KV once: every node's place first, then the head that makes the
 * job visible (a concurrent start's head wins; both wrote the same places from the same chain
 * state).
 */
async function recordJob(
  ctx: Context,
  params: StartJobParameters,
  spec: JobSpec,
  { owner, before, chosen, taskOf, startBlock }: {
    owner: Hex;
    before: Evaluation;
    chosen: Hex[];
    taskOf: Record<string, number>;
    startBlock: number;
  },
): Promise<JobRecord> {
  const head: JobHead = {
    jobId: params.jobId.toLowerCase() as Hex,
    specCid: params.specCid,
    owner,
    rounds: spec.rounds,
    round: 0,
    status: "running",
    assignedCount: chosen.length,
    globalCid: spec.initialWeights,
    roundOpenedAt: ctx.now(),
    initialValLoss: before.loss,
    initialShardLoss: before.shardLoss,
    metrics: [],
    modelId: params.modelId,
    reassigned: [],
    startBlock,
  };
  const assignment = { assigned: chosen, taskOf };
  const placed = await setAssignment(ctx.kv, params.jobId, assignment);
  const res = placed &&
    await setJob(ctx.kv.atomic().check({ key: jobKey(params.jobId), versionstamp: null }), head)
      .commit();
  if (res && res.ok) return { ...head, ...assignment };
  return await withAssignment(ctx.kv, (await getJob(ctx.kv, params.jobId)).value!);
}
