/**
 * The coordinator's off-chain state in Deno KV: keys and record shapes. The chain holds money,
 * digests and CIDs; KV holds what the coordinator needs to run rounds (who has which task,
 * which updates arrived). Every write that a retry could repeat is an atomic check-and-set.
 */
import type { Caps } from "../chain/caps.ts";
import type { Hex } from "../crypto/digest.ts";
import type { UpdateEnvelope } from "../round/update_envelope.ts";
import { commitLarge, getLarge, setLarge } from "./large_value.ts";

export { commitLarge, getLarge, setLarge };

export interface NodeRecord {
  nodePubkey: Hex;
  operator: Hex;
  role: number;
  region: string;
  caps: Caps;
  /** Stake in wei, decimal. */
  stake: string;
  boundAt: number;
  /** Last time the node asked for work or sent an update (ms). */
  lastSeen: number;
}

export interface RoundMetric {
  round: number;
  /** Validation loss (nats/byte): the mean over shards of `shardLoss` (whole set in old jobs). */
  valLoss: number;
  /** Each shard's (data owner's) validation loss, in spec order; absent in old records. */
  shardLoss?: number[];
  /** Standard error of `valLoss` from sampling the validation batches (0: all evaluated). */
  valStdErr?: number;
  updates: number;
  /**
   * How many assigned nodes delivered nothing (the list: {@link missingKey}). A metric with it is
   * stored under {@link jobMetricKey}; one without it (written before) stays in the head.
   */
  missingCount?: number;
  /** The whole list, in metrics written before it moved to {@link missingKey}. */
  missing?: string[];
  /** Which list under the round's {@link missingKey} is this round's (its content's id). */
  missingId?: string;
  reason: string;
  /** Bytes of updates read plus checkpoint written. */
  bytes: number;
  /** Bytes of the updates alone (cluster sums in hierarchical rounds); absent in old records. */
  updateBytes?: number;
  checkpointCid: string;
  closedAt: number;
}

/**
 * The worst shard's loss and the mean over shards of a round (the mean alone for old records).
 *
 * @example
 * ```ts
 * import { shardSpread } from "./state.ts";
 * const s = shardSpread({ valLoss: 2, shardLoss: [1, 3] });
 * console.assert(s.worst === 3 && s.worstShard === 1 && s.mean === 2);
 * ```
 */
export function shardSpread(
  m: Pick<RoundMetric, "valLoss" | "shardLoss">,
): { mean: number; worst: number; worstShard: number } {
  const losses = m.shardLoss?.length ? m.shardLoss : [m.valLoss];
  const worst = Math.max(...losses);
  return {
    mean: losses.reduce((a, x) => a + x, 0) / losses.length,
    worst,
    worstShard: losses.indexOf(worst),
  };
}

/**
 * A job as KV stores it under {@link jobKey}: of constant size in the number of nodes, so every
 * request reads and parses the same few hundred bytes whether the job has 10 nodes or 10,000.
 * Who holds which task lives in one entry per node ({@link jobNodeKey}); {@link JobRecord} is the
 * head with that assignment read in, for the steps that need every node (a round's close).
 */
export interface JobHead {
  jobId: Hex;
  specCid: string;
  owner: Hex;
  rounds: number;
  /** The round in progress (== rounds once all closed). */
  round: number;
  status: "running" | "completed" | "finalized";
  /** How many nodes hold a task now (each one's task: {@link getJobNode}). */
  assignedCount: number;
  globalCid: string;
  roundOpenedAt: number;
  /** The initial weights' validation loss: the mean over shards of `initialShardLoss`. */
  initialValLoss: number;
  /** Each shard's validation loss before training (absent in old records). */
  initialShardLoss?: number[];
  /**
   * Each closed round's metric. Stored one entry a round ({@link jobMetricKey}), not in the head:
   * with every round's metric inline the head outgrew KV's 800 KiB a write after enough rounds,
   * in the advance that follows a close already done on chain (found in the KV limits audit).
   */
  metrics: RoundMetric[];
  /**
   * The chain's head when the coordinator started the job: scans of the job's events (its
   * challenges, answers, committees, replacements) start there, not at block 0, which on a long
   * public chain was thousands of capped log queries a scan. Absent in old records (scans from 0).
   */
  startBlock?: number;
  /** ModelRegistry id to add checkpoints to (the owner made the coordinator a publisher). */
  modelId?: Hex;
  /** SVDB CID of the exported Hugging Face-style model folder (set by finalize). */
  modelFolderCid?: string;
  /**
   * SVDB CID of the server optimizer's state after the last round, for every strategy but
   * "fedavg": the velocity checkpoint of "diloco"/"fedavgm", the moments `m`/`v` of
   * "fedadam"/"fedyogi" (lib/coordinator/round_apply.ts).
   */
  outerVelocityCid?: string;
  /**
   * Moves of a task from `from` to `to`, with the first round `to` holds it in, oldest first. Kept
   * in the moved nodes' entries ({@link JobNodeRecord.moved}) and read in with the assignment
   * ({@link withAssignment}); a head read alone has only those of {@link JobHead.legacyMoves}.
   */
  reassigned: TaskMove[];
  /**
   * How many of the first `reassigned` the stored head holds itself: moves written before they
   * moved to the nodes' entries. Absent: none.
   */
  legacyMoves?: number;
  /** Differential privacy spent so far (jobs with a privacy budget); epsilon is the worst-off
   * data owner's. */
  privacy?: {
    /** The clip bound the next round uses (moves with adaptive clipping). */
    clip: number;
    epsilon: number;
    delta: number;
    maxEpsilon: number;
    /** Rounds each data owner's shard was trained on, and the epsilon that cost it. */
    shardRounds: number[];
    /**
     * Per shard, the counted updates carrying its data in each of those rounds, as runs of equal
     * counts in round order (lib/coordinator/privacy.ts `copiesPerRound` expands one). Kept as
     * runs on every read: expanded, a DP job of 1,000 shards x 5,000 rounds rebuilt 5 million
     * numbers for any request naming it, an unsigned cluster POST or GET /status included (found
     * in the coordinator DoS audit).
     */
    shardCopyRuns: CopyRun[][];
    /**
     * Jobs whose secure rounds were charged at the noise their sums carried (before they were
     * charged at the policy's z): each round's multiplier, extended with z for later rounds.
     */
    shardNoise?: number[][];
    shardEpsilon: number[];
  };
  finalize?: { txHash: Hex; paid: string; refund: string; improvementBps: number };
}

/** `rounds` consecutive rounds in which a shard's data was in `copies` counted updates. */
export type CopyRun = [copies: number, rounds: number];

/** A task moved from `from` to `to`, held by `to` from round `round` on. */
export interface TaskMove {
  round: number;
  from: Hex;
  to: Hex;
}

/** Who holds which task in a job. */
export interface Assignment {
  /** Nodes holding a task now, in assignment order (a replacement takes its predecessor's
   * place). */
  assigned: Hex[];
  /**
   * Node -> its task (a replacement inherits its predecessor's): redundant nodes share a task,
   * others have one each; task t trains shard `taskShard(spec, t)` with seed `taskSeed(spec, t)`.
   */
  taskOf: Record<string, number>;
}

/** A job with its whole assignment: what POST /assign and GET /status?job= answer. */
export type JobRecord = JobHead & Assignment;

/** One node's place in a job's assignment (stored under {@link jobNodeKey}). */
export interface JobNodeRecord {
  /** Its task (see {@link Assignment.taskOf}). */
  task: number;
  /** Its position in the assignment: its slot is `floor(index / redundancy)`. */
  index: number;
  /** Set once the node's task moved to this replacement: it holds no task now, but its task
   * stays known (challenges and disputes of rounds it delivered still need it). */
  movedTo?: Hex;
  /** With `movedTo`: the move's first round and its place in the job's moves (`reassigned`);
   * absent in moves written before. */
  moved?: { round: number; seq: number };
}

/** The block a scan of `job`'s events starts from (see {@link JobHead.startBlock}). */
export function scanStart(job: Pick<JobHead, "startBlock">): bigint {
  return BigInt(job.startBlock ?? 0);
}

/** Whether a place is a task held now (not handed to a replacement). */
export function holdsTask(place: JobNodeRecord | null): place is JobNodeRecord {
  return place !== null && place.movedTo === undefined;
}

/** A node's place read from a whole assignment (null when it never held a task). */
export function placeIn(a: Assignment, node: string): JobNodeRecord | null {
  const index = a.assigned.indexOf(node as Hex);
  if (index >= 0) return { task: a.taskOf[node]!, index };
  return null;
}

/** An accepted update: the envelope the node signed (its proofs checked and dropped), where it
 * counts, and what the coordinator measured. */
export interface UpdateRecord extends Omit<UpdateEnvelope, "proofs"> {
  /** The round the update counts in. */
  round: number;
  /** The round whose checkpoint it was trained from (older in asynchronous jobs). */
  baseRound?: number;
  receivedAt: number;
  bytes: number;
  /** The node's slot when it delivered (the partition codec's part; validators recompute it). */
  slot?: number;
  /** Euclidean norm of the decoded delta (none in a secure job): a mean of updates cannot be
   * longer than the longest of them, which bounds what a cluster aggregator may post. */
  norm?: number;
}

export const nodeKey = (nodePubkey: string): Deno.KvKey => ["node", nodePubkey.toLowerCase()];
export const NODES: Deno.KvKey = ["node"];
export const jobNodeKey = (jobId: string, node: string): Deno.KvKey => [
  "job_node",
  jobId.toLowerCase(),
  node.toLowerCase(),
];
export const jobNodes = (jobId: string): Deno.KvKey => ["job_node", jobId.toLowerCase()];
export const jobKey = (jobId: string): Deno.KvKey => ["job", jobId.toLowerCase()];
export const JOBS: Deno.KvKey = ["job"];
export const updateKey = (jobId: string, round: number, node: string): Deno.KvKey => [
  "update",
  jobId.toLowerCase(),
  round,
  node.toLowerCase(),
];
/** A closed round's metric (see {@link JobHead.metrics}). */
export const jobMetricKey = (jobId: string, round: number): Deno.KvKey => [
  "job_metric",
  jobId.toLowerCase(),
  round,
];
const jobMetrics = (jobId: string): Deno.KvKey => ["job_metric", jobId.toLowerCase()];
/** A closed round's assigned nodes that delivered nothing ({@link commitLarge}). */
export const missingKey = (jobId: string, round: number): Deno.KvKey => [
  "round_missing",
  jobId.toLowerCase(),
  round,
];
/** How many updates of a round are stored: summed in the atomic write that stores each one. */
export const updateCountKey = (jobId: string, round: number): Deno.KvKey => [
  "update_count",
  jobId.toLowerCase(),
  round,
];
export const roundUpdates = (jobId: string, round: number): Deno.KvKey => [
  "update",
  jobId.toLowerCase(),
  round,
];

/** Every value under a prefix. */
export async function listValues<T>(kv: Deno.Kv, prefix: Deno.KvKey): Promise<T[]> {
  const out: T[] = [];
  for await (const e of kv.list<T>({ prefix })) out.push(e.value);
  return out;
}

/**
 * A job's head with its versionstamp (`atomic().check(entry)` guards it), its rounds' metrics
 * read in ({@link JobHead.metrics}).
 */
export async function getJob(
  kv: Deno.Kv,
  jobId: string,
  options: { metrics?: boolean } = {},
): Promise<{ key: Deno.KvKey; value: JobHead | null; versionstamp: string | null }> {
  const entry = await getLarge<JobHead>(kv, jobKey(jobId));
  if (!entry.value) return entry;
  const stored = entry.value;
  const inline = stored.metrics ?? [];
  const rounds = new Set(inline.map((m) => m.round));
  // One metric per closed round: none is stored beside the head until a round closes. Read-only
  // hot paths (a node's poll, an upload, an update's intake) skip them: found reviewing the KV
  // limits fix, every poll of a 1,200-round job listed 1,200 metrics.
  const withMetrics = options.metrics ?? true;
  const kept = withMetrics && inline.length < stored.round
    ? await listValues<RoundMetric>(kv, jobMetrics(stored.jobId))
    : [];
  const moves = stored.reassigned ?? [];
  const value: JobHead = {
    ...stored,
    metrics: [...inline, ...kept.filter((m) => !rounds.has(m.round))],
    reassigned: moves,
    ...(stored.privacy ? { privacy: readPrivacy(stored.privacy as StoredPrivacy) } : {}),
  };
  if (moves.length > 0) value.legacyMoves = moves.length;
  if (!withMetrics) METRICS_LEFT_OUT.add(value);
  return { ...entry, value };
}

/** Heads read without their metrics: writing one back would drop them ({@link setJob}). */
const METRICS_LEFT_OUT = new WeakSet<object>();

/** Adds the write of a job's head to an atomic operation (a record's assignment is left out:
 * it changes only through {@link setAssignment} and {@link moveNode}), and keeps the index of
 * jobs not yet finalized ({@link listLiveJobHeads}) in step with it. */
export function setJob(op: Deno.AtomicOperation, job: JobHead): Deno.AtomicOperation {
  if (METRICS_LEFT_OUT.has(job)) {
    throw new Error(`Cannot write job ${job.jobId}: it was read without its metrics`);
  }
  const { assigned: _a, taskOf: _t, legacyMoves, ...head } = job as Partial<JobRecord> & JobHead;
  const live = liveJobKey(job.jobId);
  if (job.status === "finalized") op.delete(live);
  else op.set(live, true);
  op.set(openedKey(job.jobId), job.roundOpenedAt);
  // Metrics grow by one checkpoint per write (round_close.ts), so the newest is the only new one.
  const newest = job.metrics.at(-1);
  const id = job.jobId.toLowerCase();
  if (newest) op.set(servedKey("checkpoint", newest.checkpointCid), id);
  if (newest?.missingCount !== undefined) op.set(jobMetricKey(id, newest.round), newest);
  if (job.modelFolderCid) op.set(servedKey("folder", job.modelFolderCid), id);
  // Of constant size in rounds and moves: older heads' inline metrics and moves stay as they were.
  return setLarge(op, jobKey(job.jobId), {
    ...head,
    metrics: job.metrics.filter((m) => m.missingCount === undefined),
    reassigned: (job.reassigned ?? []).slice(0, legacyMoves ?? 0),
  });
}

/**
 * The privacy record as a head may hold it. Kept round by round (`shardCopies`, in heads written
 * before runs) it grew the head by a number per shard a round: a DP job of 1,000 shards passed
 * KV's 800 KiB a write within a few hundred rounds. A shard's count rarely changes, so its runs
 * stay a few pairs.
 */
type StoredPrivacy = Omit<NonNullable<JobHead["privacy"]>, "shardCopyRuns"> & {
  shardCopyRuns?: CopyRun[][];
  shardCopies?: number[][];
};

function readPrivacy(p: StoredPrivacy): NonNullable<JobHead["privacy"]> {
  const { shardCopyRuns, shardCopies, ...rest } = p;
  return { ...rest, shardCopyRuns: shardCopyRuns ?? (shardCopies ?? []).map(runsOf) };
}

/** One shard's copies per round as runs (an old head's record, read once per read of it). */
function runsOf(copies: readonly number[]): CopyRun[] {
  const runs: CopyRun[] = [];
  for (const m of copies) {
    const last = runs.at(-1);
    if (last?.[0] === m) last[1]++;
    else runs.push([m, 1]);
  }
  return runs;
}

/**
 * The index of what the jobs serve for inference, CID -> job id: each round's checkpoint and each
 * finalized job's model folder, written with the head ({@link setJob}). Found in the inference
 * audit: every request naming an unknown CID (anyone's, unauthenticated) read every job head the
 * coordinator ever had, each with all its rounds' metrics, and so did every model listing.
 */
const SERVED: Deno.KvKey = ["job_served"];
const servedKey = (kind: "checkpoint" | "folder", cid: string): Deno.KvKey => [
  ...SERVED,
  kind,
  cid,
];
/** Set once the index holds every job written before it existed. */
const SERVED_BUILT: Deno.KvKey = ["job_served_built"];

async function buildServed(kv: Deno.Kv): Promise<void> {
  if ((await kv.get(SERVED_BUILT)).value) return;
  for (const head of await listJobHeads(kv)) {
    const id = head.jobId.toLowerCase();
    for (const m of head.metrics) await kv.set(servedKey("checkpoint", m.checkpointCid), id);
    if (head.modelFolderCid) await kv.set(servedKey("folder", head.modelFolderCid), id);
  }
  await kv.set(SERVED_BUILT, true);
}

/** The job whose round checkpoint or model folder `cid` is (as the job recorded it), if any. */
export async function jobServing(kv: Deno.Kv, cid: string): Promise<string | undefined> {
  await buildServed(kv);
  for (const kind of ["checkpoint", "folder"] as const) {
    const id = (await kv.get<string>(servedKey(kind, cid))).value;
    if (id) return id;
  }
  return undefined;
}

/** Every finalized job's model folder, with its job, through the index. */
export async function listJobFolders(kv: Deno.Kv): Promise<{ cid: string; jobId: string }[]> {
  await buildServed(kv);
  const out = [];
  for await (const e of kv.list<string>({ prefix: [...SERVED, "folder"] })) {
    out.push({ cid: String(e.key[2]), jobId: e.value });
  }
  return out;
}

/** The index of jobs not yet finalized: one entry per job, written with its head. */
const LIVE_JOBS: Deno.KvKey = ["job_live"];
const liveJobKey = (jobId: string): Deno.KvKey => [...LIVE_JOBS, jobId.toLowerCase()];
/** Set once the index holds every job written before it existed. */
const LIVE_JOBS_BUILT: Deno.KvKey = ["job_live_built"];

/**
 * The heads of the jobs not yet finalized, read through their index: a node's poll, an upload's
 * size limit and the aggregate cron read every job head the coordinator ever had, so their cost
 * grew with every job it ever ran (found in the node routes audit). A store from before the index
 * has it built on first use.
 */
export async function listLiveJobHeads(
  kv: Deno.Kv,
  options: { metrics?: boolean } = {},
): Promise<JobHead[]> {
  if (!(await kv.get(LIVE_JOBS_BUILT)).value) {
    for (const head of await listJobHeads(kv, { metrics: false })) {
      if (head.status !== "finalized") await kv.set(liveJobKey(head.jobId), true);
    }
    await kv.set(LIVE_JOBS_BUILT, true);
  }
  const out: JobHead[] = [];
  for await (const e of kv.list({ prefix: LIVE_JOBS })) {
    const head = (await getJob(kv, String(e.key[1]), options)).value;
    // A build racing a finalize may leave a stale entry: the head is the truth.
    if (head && head.status !== "finalized") out.push(head);
  }
  return out;
}

/** Every job's head (one read each, whatever the jobs' sizes), by default with its metrics. */
export async function listJobHeads(
  kv: Deno.Kv,
  options: { metrics?: boolean } = {},
): Promise<JobHead[]> {
  return (await listJobEntries(kv, options)).map((e) => e.value!);
}

async function listJobEntries(kv: Deno.Kv, options: { metrics?: boolean } = {}) {
  const out = [];
  for await (const e of kv.list({ prefix: JOBS })) {
    if (e.key.length !== 2) continue; // parts live below the head
    out.push(await getJob(kv, String(e.key[1]), options));
  }
  return out;
}

/**
 * When each job's round opened: one small entry per job, written with its head ({@link setJob}).
 * GET /status found its most recently active jobs by reading every head the coordinator ever had,
 * each with all its rounds' metrics (20 jobs of 1,000 rounds: 6 MB and 1.3 s an unauthenticated
 * call; found in the coordinator DoS audit).
 */
const OPENED: Deno.KvKey = ["job_opened"];
const openedKey = (jobId: string): Deno.KvKey => [...OPENED, jobId.toLowerCase()];
/** Set once the index holds every job written before it existed. */
const OPENED_BUILT: Deno.KvKey = ["job_opened_built"];

/**
 * The heads, read without their metrics, of the `limit` jobs whose round opened last (newest
 * first), and how many jobs there are: one small entry read per job, a head per job listed.
 */
export async function listRecentJobHeads(
  kv: Deno.Kv,
  limit: number,
): Promise<{ heads: JobHead[]; count: number }> {
  if (!(await kv.get(OPENED_BUILT)).value) {
    for (const head of await listJobHeads(kv, { metrics: false })) {
      const key = openedKey(head.jobId);
      // Never over what a head's own write put there meanwhile.
      await kv.atomic().check({ key, versionstamp: null }).set(key, head.roundOpenedAt).commit();
    }
    await kv.set(OPENED_BUILT, true);
  }
  const opened: { jobId: string; at: number }[] = [];
  for await (const e of kv.list<number>({ prefix: OPENED })) {
    opened.push({ jobId: String(e.key[1]), at: e.value });
  }
  opened.sort((a, b) => b.at - a.at);
  const heads: JobHead[] = [];
  for (const { jobId } of opened.slice(0, limit)) {
    const head = (await getJob(kv, jobId, { metrics: false })).value;
    if (head) heads.push(head);
  }
  return { heads, count: opened.length };
}

/**
 * A page of a job's round metrics in round order: at most `limit` from round `from` (default 0),
 * or with `newest` the last `limit`. Given a head read without its metrics, only the page's
 * entries are read (the rest of {@link JobHead.metrics} stays in KV).
 */
export async function getMetrics(
  kv: Deno.Kv,
  head: JobHead,
  options: { from?: number; limit: number; newest?: boolean },
): Promise<RoundMetric[]> {
  const { from = 0, limit, newest = false } = options;
  const inline = head.metrics; // every metric, or (read without them) those the head holds
  const stored: RoundMetric[] = [];
  if (METRICS_LEFT_OUT.has(head) && limit > 0) {
    const prefix = jobMetrics(head.jobId);
    const selector = newest ? { prefix } : { prefix, start: jobMetricKey(head.jobId, from) };
    for await (const e of kv.list<RoundMetric>(selector, { limit, reverse: newest })) {
      stored.push(e.value);
    }
  }
  const rounds = new Set(inline.map((m) => m.round));
  const all = [...inline, ...stored.filter((m) => !rounds.has(m.round))]
    .sort((a, b) => a.round - b.round);
  return newest
    ? all.slice(Math.max(0, all.length - limit))
    : all.filter((m) => m.round >= from).slice(0, limit);
}

/** A node's place in a job (see {@link holdsTask}), or null when it never held a task of it. */
export async function getJobNode(
  kv: Deno.Kv,
  jobId: string,
  node: string,
): Promise<JobNodeRecord | null> {
  return (await kv.get<JobNodeRecord>(jobNodeKey(jobId, node))).value;
}

/**
 * Assignments read, per KV and job, with the versionstamp of the head they were read under: an
 * assignment changes only in the atomic write that also writes its head (or before the head
 * exists), so an unchanged head means an unchanged assignment. Frozen: callers copy to change.
 */
const readAssignments = new WeakMap<
  Deno.Kv,
  Map<string, { versionstamp: string; assignment: HeldAssignment }>
>();

/** An assignment with the moves its nodes' entries record, oldest first. */
type HeldAssignment = Assignment & { moves: readonly TaskMove[] };
/** Jobs whose assignment each KV keeps in memory (the most recently read). */
const KEPT_ASSIGNMENTS = 8;

/**
 * A job's whole assignment, in assignment order; given the versionstamp of the job's head, a
 * repeat read under the same head is answered from memory.
 */
export async function getAssignment(
  kv: Deno.Kv,
  jobId: string,
  versionstamp?: string | null,
): Promise<HeldAssignment> {
  const id = jobId.toLowerCase();
  const kept = readAssignments.get(kv) ?? new Map();
  readAssignments.set(kv, kept);
  const hit = kept.get(id);
  if (versionstamp && hit?.versionstamp === versionstamp) return hit.assignment;
  const assignment = await readAssignment(kv, id);
  if (versionstamp) {
    kept.delete(id);
    kept.set(id, { versionstamp, assignment });
    if (kept.size > KEPT_ASSIGNMENTS) kept.delete(kept.keys().next().value!);
  }
  return assignment;
}

async function readAssignment(kv: Deno.Kv, jobId: string): Promise<HeldAssignment> {
  const places: [Hex, JobNodeRecord][] = [];
  for await (const e of kv.list<JobNodeRecord>({ prefix: jobNodes(jobId) })) {
    places.push([e.key[2] as Hex, e.value]);
  }
  const held = places.filter(([, p]) => holdsTask(p)).sort((a, b) => a[1].index - b[1].index);
  const moved = places.flatMap(([from, p]) =>
    p.movedTo && p.moved ? [{ seq: p.moved.seq, round: p.moved.round, from, to: p.movedTo }] : []
  ).sort((a, b) => a.seq - b.seq);
  return Object.freeze({
    assigned: Object.freeze(held.map(([n]) => n)) as Hex[],
    taskOf: Object.freeze(Object.fromEntries(places.map(([n, p]) => [n, p.task]))),
    moves: Object.freeze(moved.map(({ round, from, to }) => Object.freeze({ round, from, to }))),
  });
}

/**
 * Every job with its whole assignment (each read once per change of its head; a caller that needs
 * one node's place reads {@link getJobNode} instead).
 */
export async function listJobs(kv: Deno.Kv): Promise<JobRecord[]> {
  const entries = await listJobEntries(kv);
  return await Promise.all(entries.map((e) => withAssignment(kv, e.value!, e.versionstamp)));
}

/** The job's head with its whole assignment (`versionstamp`: the head's, see getAssignment). */
export async function withAssignment(
  kv: Deno.Kv,
  job: JobHead,
  versionstamp?: string | null,
): Promise<JobRecord> {
  const { assigned: _a, taskOf: _t, ...head } = job as Partial<JobRecord> & JobHead;
  const { moves, ...assignment } = await getAssignment(kv, job.jobId, versionstamp);
  // The head's own (older) moves first; `job` may be a record that has the entries' moves too.
  const recorded = new Set(moves.map((m) => m.from.toLowerCase()));
  const legacy = (head.reassigned ?? []).filter((m) => !recorded.has(m.from.toLowerCase()));
  return { ...head, ...assignment, reassigned: [...legacy, ...moves] };
}

/** Node entries written per atomic operation (Deno KV allows 1,000 mutations per operation). */
const ASSIGNMENT_BATCH = 500;

/**
 * Writes every node's place in a job, in batches, before the head that makes the job visible
 * (so a job whose head exists has all its entries); false when the head appeared meanwhile (a
 * concurrent start recorded the job first).
 */
export async function setAssignment(
  kv: Deno.Kv,
  jobId: string,
  assignment: Assignment,
): Promise<boolean> {
  const { assigned, taskOf } = assignment;
  for (let i = 0; i < assigned.length; i += ASSIGNMENT_BATCH) {
    // Only while the job has no head: a started job's places change only with its head.
    const op = kv.atomic().check({ key: jobKey(jobId), versionstamp: null });
    assigned.slice(i, i + ASSIGNMENT_BATCH).forEach((n, k) => {
      op.set(jobNodeKey(jobId, n), { task: taskOf[n]!, index: i + k } satisfies JobNodeRecord);
    });
    if (!(await op.commit()).ok) return false;
  }
  return true;
}

/**
 * Adds the move of `from`'s place (task and position) to `to` to an atomic operation; `moved`
 * records it in the job's moves ({@link JobHead.reassigned}).
 */
export function moveNode(
  op: Deno.AtomicOperation,
  jobId: string,
  move: { from: Hex; to: Hex; place: JobNodeRecord; moved?: JobNodeRecord["moved"] },
): Deno.AtomicOperation {
  const { from, to, place, moved } = move;
  const left: JobNodeRecord = { ...place, movedTo: to, ...(moved ? { moved } : {}) };
  return op.set(jobNodeKey(jobId, from), left).set(jobNodeKey(jobId, to), place);
}
