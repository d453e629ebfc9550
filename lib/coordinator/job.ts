/**
 * Job helpers shared by the coordinator verbs: reading a job's spec and checkpoints
 * from SVDB, and the validation loss of a checkpoint on the spec's held-out bytes, per shard
 * (data owner) and averaged over shards, so a job owner sees whether the model serves every one.
 */
import { createTrainer } from "../../kernel/train_step.ts";
import { type Kernel, loadKernel } from "../../kernel/wasm_module.ts";
import { evalBatches } from "../../kernel/data.ts";
import type { Batch, Hyper } from "../../kernel/train_step.ts";
import { decodeCheckpoint } from "../model/checkpoint.ts";
import { type JobSpec, MAX_SPEC_BYTES, roundHyper } from "../job/job_spec.ts";
import { SpecCache } from "../job/spec_cache.ts";
import type { Store } from "../store/store.ts";
import {
  getJobNode,
  holdsTask,
  type JobHead,
  type JobNodeRecord,
  updateKey,
  type UpdateRecord,
} from "./state.ts";

let kernel: Kernel | undefined;
let trainer: ReturnType<typeof createTrainer> | undefined;

/** The kernel trainer of this process (one WASM instance, created on first use). */
export function processTrainer(): ReturnType<typeof createTrainer> {
  return trainer ??= createTrainer(kernel ??= loadKernel());
}

/**
 * Bytes of WASM memory the process's trainer holds. A WASM memory never shrinks (the trainer
 * keeps one workspace, but its high-water mark stays, up to 4 GiB), so only the coordinator's own
 * work may use it: a route that let a caller choose shapes would let that caller hold it high.
 */
export function processTrainerBytes(): number {
  return kernel?.ops.memory.buffer.byteLength ?? 0;
}

/** What the coordinator's parsed specs may add up to: a few thousand jobs' ordinary specs. */
export const SPEC_CACHE_BYTES = 64 * 2 ** 20;

const specCache = new SpecCache(SPEC_CACHE_BYTES);

/**
 * The spec stored under `cid` (cached, within {@link SPEC_CACHE_BYTES}); a file past
 * MAX_SPEC_BYTES is refused from its root's declared size, unread (a job owner may name any CID).
 */
export async function loadSpec(store: Store, cid: string): Promise<JobSpec> {
  return await specCache.get(cid, () => store.get(cid, { maxBytes: MAX_SPEC_BYTES }));
}

/** The flat weights of a checkpoint CID. */
export async function loadWeights(store: Store, cid: string): Promise<Float32Array> {
  return decodeCheckpoint(await store.get(cid)).weights;
}

/** Batches of the old head-of-set measure (bench/compress_reference.ts keeps it as its reference). */
export const VAL_BATCHES = 8;

/**
 * Most validation batches the coordinator evaluates per checkpoint: a set with at most this many
 * is evaluated whole; a larger one is sampled evenly within every shard (stratified), budget
 * split equally between shards. Measured on the demo (2-layer width-64 GPT, B=8, T=32, 15 Brown
 * genres, 461 batches in 121,672 bytes): ~7.6 ms per batch, so the whole set costs ~3.5 s per
 * round and this budget (60 batches) ~0.45 s.
 */
export const VAL_BATCH_BUDGET = 64;

/**
 * Rows (sequences) per validation batch, whatever the job's training batch: the measure and its
 * sample size must not move when a job trains on smaller batches (the demo's B 2 would otherwise
 * evaluate a quarter of the bytes of B 8).
 */
export const VAL_ROWS = 8;

/** At least this many batches per sampled shard, so its variance (the error bar) is estimable. */
const MIN_SAMPLED_PER_SHARD = 2;

/** A checkpoint's loss on the held-out bytes, per shard (data owner) and over all of them. */
export interface Evaluation {
  /** Mean over shards of each shard's loss (nats/byte): every data owner counts the same. */
  loss: number;
  /** Each shard's mean loss on its evaluated batches, in spec order (one entry for old specs). */
  shardLoss: number[];
  /**
   * Standard error of `loss` from sampling (0 when every batch was evaluated): stratified
   * sampling's sqrt(sum_s (1 - k_s/n_s) var_s / k_s) / S over S shards, var_s the sample variance
   * of shard s's k_s batch losses out of its n_s.
   */
  stdErr: number;
  /** Batches evaluated, and batches the held-out bytes hold. */
  batches: number;
  available: number;
}

/**
 * The held-out bytes of each shard: `validation` cut at `spec.validationShards`, or the whole
 * set as one stratum for specs written before per-shard validation.
 */
export function validationStrata(
  spec: Pick<JobSpec, "validationShards">,
  validation: Uint8Array,
): Uint8Array[] {
  const lengths = spec.validationShards ?? [validation.length];
  const total = lengths.reduce((a, n) => a + n, 0);
  if (total !== validation.length) {
    throw new RangeError(
      `Cannot evaluate: validationShards add up to ${total} bytes, validation holds ${validation.length}`,
    );
  }
  let at = 0;
  return lengths.map((n) => validation.subarray(at, at += n));
}

/** `k` of `n` batch indices spread evenly (the middle of each of k equal runs): deterministic. */
export function spreadIndices(n: number, k: number): number[] {
  const m = Math.min(n, k);
  return Array.from({ length: m }, (_, j) => Math.floor(((2 * j + 1) * n) / (2 * m)));
}

/**
 * Evaluates `weights` on every stratum with the kernel's evalLoss over kernel/data.ts
 * evalBatches: whole when the strata hold at most `budget` batches, else a stratified sample.
 * Same bytes, same batches, same loss on every machine. `hyper.B` is the rows per batch.
 *
 * @example
 * ```ts
 * import { evaluateStrata } from "./job.ts";
 * const strata = [new Uint8Array(100), new Uint8Array(100).fill(1)];
 * const evalLoss = (_w: Float32Array, b: { tokens: Int32Array }) => b.tokens[0]!;
 * const e = evaluateStrata(new Float32Array(1), strata, { B: 2, T: 8 }, { evalLoss });
 * console.assert(e.shardLoss[1] === 1 && e.loss === 0.5 && e.stdErr === 0);
 * ```
 */
export function evaluateStrata(
  weights: Float32Array,
  strata: readonly Uint8Array[],
  hyper: Pick<Hyper, "B" | "T"> & Partial<Hyper>,
  options: { evalLoss: (w: Float32Array, b: Batch, h: Hyper) => number; budget?: number },
): Evaluation {
  const step = hyper.B * hyper.T;
  const counts = strata.map((s) => Math.max(0, Math.floor((s.length - 1) / step)));
  const available = counts.reduce((a, n) => a + n, 0);
  const budget = options.budget ?? VAL_BATCH_BUDGET;
  const perShard = available <= budget
    ? Infinity
    : Math.max(MIN_SAMPLED_PER_SHARD, Math.floor(budget / strata.length));
  const full = { ...hyper, accumSteps: 1 } as Hyper;
  let batches = 0, variance = 0;
  const shardLoss = strata.map((s, i) => {
    const n = counts[i]!;
    if (n === 0) {
      batches++;
      return shortShardLoss(weights, s, i, full, options.evalLoss);
    }
    const stratum = stratumLoss(weights, s, { n, perShard }, full, options.evalLoss);
    batches += stratum.batches;
    variance += stratum.variance;
    return stratum.mean;
  });
  const S = strata.length;
  return {
    loss: shardLoss.reduce((a, x) => a + x, 0) / S,
    shardLoss,
    stdErr: Math.sqrt(variance) / S,
    batches,
    available,
  };
}

/**
 * One stratum's mean loss over `perShard` of its `n` batches spread evenly, and that mean's
 * sampling variance with the finite-population correction (0 when every batch ran).
 */
function stratumLoss(
  weights: Float32Array,
  bytes: Uint8Array,
  o: { n: number; perShard: number },
  hyper: Hyper,
  evalLoss: (w: Float32Array, b: Batch, h: Hyper) => number,
): { mean: number; batches: number; variance: number } {
  const { B, T } = hyper;
  const losses = spreadIndices(o.n, o.perShard).map((b) =>
    evalLoss(weights, evalBatches(bytes.subarray(b * B * T), B, T, 1)[0]!, hyper)
  );
  const k = losses.length;
  const mean = losses.reduce((a, x) => a + x, 0) / k;
  if (k >= o.n) return { mean, batches: k, variance: 0 };
  const v = losses.reduce((a, x) => a + (x - mean) ** 2, 0) / (k - 1);
  return { mean, batches: k, variance: (1 - k / o.n) * v / k };
}

/** A shard shorter than one batch is evaluated whole, as one batch of fewer rows. */
function shortShardLoss(
  weights: Float32Array,
  bytes: Uint8Array,
  shard: number,
  hyper: Hyper,
  evalLoss: (w: Float32Array, b: Batch, h: Hyper) => number,
): number {
  const rows = Math.floor((bytes.length - 1) / hyper.T);
  if (rows < 1) {
    throw new RangeError(
      `Cannot evaluate: validation shard ${shard} holds ${bytes.length} bytes, fewer than T + 1`,
    );
  }
  return evalLoss(weights, evalBatches(bytes, rows, hyper.T, 1)[0]!, { ...hyper, B: rows });
}

/** Evaluates `weights` on the spec's held-out bytes, per shard and over all (see Evaluation). */
export async function evaluateWeights(
  store: Store,
  spec: JobSpec,
  weights: Float32Array,
): Promise<Evaluation> {
  const strata = validationStrata(spec, await store.get(spec.validation));
  return evaluateStrata(weights, strata, { ...roundHyper(spec, 0), B: VAL_ROWS }, {
    evalLoss: processTrainer().evalLoss,
  });
}

/** Validation loss (nats/byte) of `weights`: the mean over shards of each shard's loss. */
export async function validationLoss(
  store: Store,
  spec: JobSpec,
  weights: Float32Array,
): Promise<number> {
  return (await evaluateWeights(store, spec, weights)).loss;
}

/**
 * A node's slot in a job: its task group's index in the assignment (redundant nodes share a
 * group, so they share a slot and their partition payloads stay byte-identical). -1 when
 * the node is not assigned.
 */
export function slotOf(place: JobNodeRecord | null, spec: JobSpec): number {
  return holdsTask(place) ? slotOfIndex(place.index, spec) : -1;
}

function slotOfIndex(index: number, spec: JobSpec): number {
  return Math.floor(index / (spec.verification?.redundancy ?? 1));
}

/**
 * The slot `node` delivered its update of `round` from (recorded at intake; a reassignment
 * since then may have moved the node), else the slot of its place in the assignment, held now
 * or moved away since.
 */
export async function deliveredSlot(
  kv: Deno.Kv,
  job: Pick<JobHead, "jobId">,
  spec: JobSpec,
  round: number,
  node: string,
): Promise<number> {
  const u = (await kv.get<UpdateRecord>(updateKey(job.jobId, round, node))).value;
  if (u?.slot !== undefined) return u.slot;
  // A node moved off its task since (its place keeps the index it held) committed from that
  // slot: found in the coordinator audit, its challenge was recomputed at slot -1, which a
  // partition codec refuses, and the throw stopped the job's rounds.
  const place = await getJobNode(kv, job.jobId, node);
  return place ? slotOfIndex(place.index, spec) : -1;
}
