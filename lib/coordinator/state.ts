/**
 * The coordinator's off-chain state in Deno KV: keys and record shapes. The chain holds money,
 * digests and CIDs; KV holds what the coordinator needs to run rounds (who has which task,
 * which updates arrived). Every write that a retry could repeat is an atomic check-and-set.
 */
import type { Caps } from "../chain/caps.ts";
import type { Hex } from "../crypto/digest.ts";
import type { UpdateEnvelope } from "../round/update_envelope.ts";

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
  missing: string[];
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

export interface JobRecord {
  jobId: Hex;
  specCid: string;
  owner: Hex;
  rounds: number;
  /** The round in progress (== rounds once all closed). */
  round: number;
  status: "running" | "completed" | "finalized";
  /** Nodes holding a task now. */
  assigned: Hex[];
  /**
   * Node -> its task (a replacement inherits its predecessor's): redundant nodes share a task,
   * others have one each; task t trains shard `taskShard(spec, t)` with seed `taskSeed(spec, t)`.
   */
  taskOf: Record<string, number>;
  globalCid: string;
  roundOpenedAt: number;
  /** The initial weights' validation loss: the mean over shards of `initialShardLoss`. */
  initialValLoss: number;
  /** Each shard's validation loss before training (absent in old records). */
  initialShardLoss?: number[];
  metrics: RoundMetric[];
  /** ModelRegistry id to add checkpoints to (the owner made the coordinator a publisher). */
  modelId?: Hex;
  /** SVDB CID of the exported Hugging Face-style model folder (set by finalize). */
  modelFolderCid?: string;
  /** DiLoCo outer-optimizer velocity, when the strategy is "diloco". */
  outerVelocityCid?: string;
  reassigned: { round: number; from: Hex; to: Hex }[];
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
    /** Per shard, the counted updates carrying its data in each of those rounds. */
    shardCopies: number[][];
    /** Secure aggregation: the noise multiplier each of those rounds' sums carried. */
    shardNoise?: number[][];
    shardEpsilon: number[];
  };
  finalize?: { txHash: Hex; paid: string; refund: string; improvementBps: number };
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
}

export const nodeKey = (nodePubkey: string): Deno.KvKey => ["node", nodePubkey.toLowerCase()];
export const NODES: Deno.KvKey = ["node"];
export const jobKey = (jobId: string): Deno.KvKey => ["job", jobId.toLowerCase()];
export const JOBS: Deno.KvKey = ["job"];
export const updateKey = (jobId: string, round: number, node: string): Deno.KvKey => [
  "update",
  jobId.toLowerCase(),
  round,
  node.toLowerCase(),
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

/** Characters per KV part: Deno KV refuses values above 64 KiB, large jobs exceed that. */
const PART_CHARS = 50_000;

interface LargeHead {
  parts: number;
  json: string;
}

/**
 * Reads a value written by {@link setLarge}; `versionstamp` is the head's, so
 * `atomic().check(entry)` guards the whole value.
 */
export async function getLarge<T>(
  kv: Deno.Kv,
  key: Deno.KvKey,
): Promise<{ key: Deno.KvKey; value: T | null; versionstamp: string | null }> {
  const head = await kv.get<LargeHead>(key);
  if (!head.value) return { key, value: null, versionstamp: null };
  let json = head.value.json;
  for (let i = 1; i < head.value.parts; i++) {
    const part = await kv.get<string>([...key, "part", i]);
    if (typeof part.value !== "string") {
      throw new Error(`Cannot read ${String(key)}: part ${i} missing`);
    }
    json += part.value;
  }
  return { key, value: JSON.parse(json) as T, versionstamp: head.versionstamp };
}

/** Adds the writes of a value of any size to an atomic operation (head + parts). */
export function setLarge(
  op: Deno.AtomicOperation,
  key: Deno.KvKey,
  value: unknown,
): Deno.AtomicOperation {
  const json = JSON.stringify(value);
  const parts = Math.max(1, Math.ceil(json.length / PART_CHARS));
  op.set(key, { parts, json: json.slice(0, PART_CHARS) } satisfies LargeHead);
  for (let i = 1; i < parts; i++) {
    op.set([...key, "part", i], json.slice(i * PART_CHARS, (i + 1) * PART_CHARS));
  }
  return op;
}

/** A job record with the versionstamp of its head. */
export function getJob(kv: Deno.Kv, jobId: string) {
  return getLarge<JobRecord>(kv, jobKey(jobId));
}

/** Adds the writes of a job record to an atomic operation. */
export function setJob(op: Deno.AtomicOperation, job: JobRecord): Deno.AtomicOperation {
  return setLarge(op, jobKey(job.jobId), job);
}

/** Every job record. */
export async function listJobs(kv: Deno.Kv): Promise<JobRecord[]> {
  const out: JobRecord[] = [];
  for await (const e of kv.list<LargeHead>({ prefix: JOBS })) {
    if (e.key.length !== 2) continue; // parts live below the head
    out.push((await getJob(kv, String(e.key[1]))).value!);
  }
  return out;
}
