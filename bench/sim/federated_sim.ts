/**
 * A chain-free federated-training simulator on the real kernel: N clients, each on a shard,
 * run `localSteps` AdamW steps from the global weights ({@link trainLocal}), compress their
 * delta with a codec (one error-feedback residual per client), and the coordinator's own
 * combine step ({@link combineRound}) turns the decoded deltas into the next global weights,
 * so what the benchmarks measure is what the coordinator runs. Optional Byzantine clients,
 * DP-FedAvg with an RDP accountant, and asynchronous delivery (clients 1-2 versions late).
 *
 * What it measures each round: validation loss on the same evaluation batches (the first
 * batches of every client shard's validation bytes), the mean payload bytes a client sent,
 * and the aggregation time. Deterministic for a given seed: batches, node keys, attack noise
 * and DP noise are all derived from it (no `Math.random`); only the timings vary. Only a
 * benchmark may do that: the coordinator draws DP noise from a secret key (lib/coordinator/privacy.ts).
 *
 * @module
 */
import type { Batch, EvalLossFn, Hyper, TrainStepFn } from "../../kernel/train_step.ts";
import { evalBatches, type Shard } from "../../kernel/data.ts";
import {
  type Codec,
  createErrorFeedback,
  type ErrorFeedbackState,
  HEADER_BYTES,
} from "../../lib/compress/codec.ts";
import { fp32Codec } from "../../lib/compress/fp32.ts";
import { decodePayload } from "../../lib/compress/payload.ts";
import { DEFAULT_PARTS } from "../../lib/compress/partition.ts";
import { codecFor } from "../../lib/strategy/select.ts";
import {
  type CombinePlan,
  combinePlanOf,
  combineRound,
  type RoundUpdate,
} from "../../lib/strategy/combine_round.ts";
import type { JobSpec } from "../../lib/job/job_spec.ts";
import { DEFAULT_QUORUM, DEFAULT_ROUND_DEADLINE_MS } from "../../lib/job/round_policy.ts";
import { DEFAULT_CLUSTER_SIZE } from "../../lib/strategy/hierarchical.ts";
import type { ModelConfig } from "../../kernel/params.ts";
import { type NodeKey, nodeKeyFromSecret } from "../../lib/crypto/keys.ts";
import { trainLocal } from "../../lib/round/local_training.ts";
import { Prng } from "../../lib/crypto/prng.ts";
import { BudgetExceededError, RdpAccountant } from "../../lib/privacy/rdp_accountant.ts";
import { DpFedAvg } from "../../lib/strategy/dp_fed_avg.ts";
import { allFinite, type ClientUpdate } from "../../lib/strategy/strategy.ts";
import { UNCHECKED_DOMAIN } from "../../lib/crypto/domain.ts";

/**
 * How a Byzantine client corrupts its update: `"noise"` sends Gaussian noise of std
 * {@link BYZANTINE_NOISE_STD}, `"sign-flip"` sends -{@link SIGN_FLIP_FACTOR} x its honest
 * delta, `"scale"` sends {@link SCALE_FACTOR} x it, `"lazy"` does not train and sends zeros.
 */
export type ByzantineKind = "noise" | "sign-flip" | "scale" | "lazy";

/** Std of a `"noise"` attacker's values: ~50x a typical honest coordinate after a round. */
export const BYZANTINE_NOISE_STD = 1;
/** Magnitude of a `"sign-flip"` attacker's reversed delta. */
export const SIGN_FLIP_FACTOR = 10;
/** Multiplier of a `"scale"` attacker's delta. */
export const SCALE_FACTOR = 100;

/** DP-FedAvg settings: clip bound, noise multiplier and the accountant's (delta, budget). */
export interface SimDpOptions {
  /** L2 clip bound C of each client delta. */
  clip: number;
  /** Noise multiplier z (noise std on the sum is z C). */
  noiseMultiplier: number;
  /** Target delta of the reported (epsilon, delta); default 1e-5. */
  delta?: number;
  /** Budget: the first round that would exceed it is refused and the run stops. */
  maxEpsilon?: number;
}

/** Options of {@link runFederatedSim}. */
export interface FederatedSimOptions {
  /** Model and local hyper-parameters (B, T, learning rate, optimizer). */
  hyper: Hyper;
  /** Client i trains on `shards[i % shards.length]`. */
  shards: readonly Shard[];
  clients: number;
  rounds: number;
  localSteps: number;
  /**
   * Update codec (default fp32), or a codec per (client, round) for codecs that depend on
   * the node's slot and the round (partition: `codecFor(c, { jobSeed, round, slot: client })`).
   */
  codec?: Codec | ((client: number, round: number) => Codec);
  /** Keep a residual per client for lossy codecs (default true). */
  errorFeedback?: boolean;
  /** A job's Byzantine-robust rule (default: the coordinator's streaming exact FedAvg). */
  robust?: JobSpec["robust"];
  /** Byzantine clients by index. */
  byzantine?: Readonly<Record<number, ByzantineKind>>;
  /** Aggregate with DP-FedAvg and an RDP accountant (a job's `privacy`). */
  dp?: SimDpOptions;
  /**
   * Per-client delivery delay in versions: asynchronous delivery as the coordinator runs it (a
   * stale update counts in the round it arrives, down-weighted by FedBuff's 1/sqrt(1+tau)).
   */
  delays?: readonly number[];
  /** Validation batches taken from each distinct shard (default 2). */
  evalBatchesPerShard?: number;
  /** The local hyper-parameters of a round (a job's cosine over rounds); default `hyper`. */
  roundHyper?: (round: number) => Hyper;
  /**
   * A partition-codec job as the coordinator runs it: client i sends from slot i under
   * `partitionSeed(jobSeed, round)`; a FedAvg mean is rebalanced per part
   * (`rebalancePartitionMean`), and with `robust` the rule runs per part over the clients
   * that sent it (`aggregatePartitioned`). Replaces `codec`.
   */
  partition?: { jobSeed: number; parts?: number };
  /**
   * Sees each round's decoded updates before they are combined (for measurements); they are the
   * combine's own objects (a stale delta is scaled in place), so copy what you keep.
   */
  observe?: (round: number, updates: readonly RoundUpdate[]) => void;
  /** Batch seed of client i's task (a job's `taskSeed(spec, i)`); default from `seed`. */
  taskSeed?: (client: number) => number;
  /** Validation loss of global weights, replacing the per-shard batches (a job's own). */
  evaluate?: (weights: Float32Array) => number;
  /** Seed of batches, node keys, attack and DP noise (default 1). */
  seed?: number;
}

/** What a run measured. */
export interface FederatedSimResult {
  /** Validation loss of the initial weights. */
  initialLoss: number;
  /** Validation loss after each completed round. */
  valLoss: number[];
  /** Mean payload bytes one client sent, per completed round. */
  bytesPerClient: number[];
  /** Bytes of one fp32 payload of the same model (the compression baseline). */
  fp32Bytes: number;
  /** Aggregation wall time per completed round, in milliseconds (not deterministic). */
  aggregateMs: number[];
  /** Updates the strategy rejected, per completed round. */
  rejected: number[];
  /** Epsilon spent (at `dp.delta`) when DP is on. */
  epsilon?: number;
  /** Set when the accountant refused a round; no later round ran. */
  budgetExceeded?: BudgetExceededError;
  /** True when the global weights or the loss became non-finite; no later round ran. */
  diverged: boolean;
  /** Final global weights. */
  weights: Float32Array;
}

/** The kernel functions the simulator needs (`createTrainer(loadKernel())`). */
export interface SimTrainer {
  trainStep: TrainStepFn;
  evalLoss: EvalLossFn;
}

/**
 * Runs `rounds` rounds of federated training from `initial` weights.
 *
 * @throws {RangeError} on a non-positive count, a delay list of the wrong length, or no shard
 * @throws {TypeError} when both `dp` and `robust` or `delays` are given
 * @example
 * ```ts
 * import { createTrainer } from "../../kernel/train_step.ts";
 * import { loadKernel } from "../../kernel/wasm_module.ts";
 * import { initWeights, paramLayout } from "../../kernel/params.ts";
 * import { defaultHyper } from "../../lib/round/local_training.ts";
 * import { runFederatedSim } from "./federated_sim.ts";
 * const kernel = loadKernel();
 * const hyper = defaultHyper({ kind: "gpt", maxT: 8, layers: 1, heads: 1, width: 8 }, { B: 2 });
 * const text = new TextEncoder().encode("the cat sat on the mat. ".repeat(20));
 * const r = runFederatedSim(createTrainer(kernel), initWeights(kernel, paramLayout(hyper.model), 1), {
 *   hyper, shards: [{ name: "cats", train: text, val: text }], clients: 2, rounds: 1, localSteps: 2,
 * });
 * console.assert(r.valLoss.length === 1 && r.valLoss[0]! < r.initialLoss);
 * ```
 */
export function runFederatedSim(
  trainer: SimTrainer,
  initial: Float32Array,
  options: FederatedSimOptions,
): FederatedSimResult {
  checkOptions(options);
  const sim = setUp(trainer, initial, options);
  const history: Float32Array[] = [initial]; // global weights by version
  const result: FederatedSimResult = {
    initialLoss: sim.evaluate(initial),
    valLoss: [],
    bytesPerClient: [],
    fp32Bytes: HEADER_BYTES + 4 * initial.length,
    aggregateMs: [],
    rejected: [],
    diverged: false,
    weights: initial,
  };
  for (let round = 0; round < options.rounds; round++) {
    const version = history.length - 1;
    const sent = clientsTrain(trainer, sim, history, round);
    if (sent.updates.length === 0) { // every client's training blew up
      result.diverged = true;
      break;
    }
    const t0 = performance.now();
    const combined = combineSent(sim, round, version, sent.updates);
    if (combined instanceof BudgetExceededError) {
      result.budgetExceeded = combined; // the accountant refused: release nothing more
      break;
    }
    const ms = performance.now() - t0;
    const global = history[version]!.slice();
    for (let j = 0; j < global.length; j++) global[j]! += combined.delta[j]!;
    const loss = sim.evaluate(global);
    history.push(global);
    result.weights = global;
    result.valLoss.push(loss);
    result.bytesPerClient.push(sent.bytes / sent.updates.length);
    result.aggregateMs.push(ms);
    result.rejected.push(combined.rejected);
    if (!Number.isFinite(loss) || !allFinite(global)) {
      result.diverged = true;
      break;
    }
  }
  if (sim.accountant) result.epsilon = sim.accountant.epsilon;
  return result;
}

/** What a run keeps across rounds: keys, residuals, codecs, the combine plan, the evaluator. */
interface Sim {
  options: FederatedSimOptions;
  seed: number;
  length: number;
  codecOf: (client: number, round: number) => Codec;
  rng: Prng;
  keys: NodeKey[];
  residuals: (ErrorFeedbackState | undefined)[];
  accountant?: RdpAccountant;
  plan: (round: number) => CombinePlan;
  evaluate: (weights: Float32Array) => number;
}

function setUp(trainer: SimTrainer, initial: Float32Array, options: FederatedSimOptions): Sim {
  const seed = options.seed ?? 1;
  const length = initial.length;
  const keys = Array.from(
    { length: options.clients },
    (_, i) => nodeKeyFromSecret(secretFor(seed, i)),
  );
  const accountant = options.dp
    ? new RdpAccountant({ delta: options.dp.delta ?? 1e-5, maxEpsilon: options.dp.maxEpsilon })
    : undefined;
  const evalSet = options.evaluate ? [] : shardEvalBatches(
    options.shards,
    options.clients,
    options.hyper,
    options.evalBatchesPerShard ?? 2,
  );
  return {
    options,
    seed,
    length,
    codecOf: codecsOf(options),
    rng: new Prng(mixSeed(seed, 0x5eed)),
    keys,
    residuals: keys.map(() =>
      options.errorFeedback === false ? undefined : createErrorFeedback(length)
    ),
    accountant,
    plan: planOf(options, accountant, mixSeed(seed, 0xd9), length),
    evaluate: options.evaluate ??
      ((w: Float32Array) => meanLoss(trainer.evalLoss, w, evalSet, options.hyper)),
  };
}

/** The codec of client `c` in `round`: the partition codec's part, or the one fixed codec. */
function codecsOf(options: FederatedSimOptions): (client: number, round: number) => Codec {
  const part = options.partition;
  if (part) {
    const parts = part.parts ?? DEFAULT_PARTS;
    return (client, round) =>
      codecFor({ codec: "partition", parts }, { jobSeed: part.jobSeed, round, slot: client });
  }
  const fixed = options.codec ?? fp32Codec();
  return typeof fixed === "function" ? fixed : () => fixed;
}

/**
 * The coordinator's combine plan for the options: the job-spec fields they stand for, through
 * {@link combinePlanOf} as the coordinator's round does (lib/coordinator/round_combine.ts), with
 * the run's seeded DP-FedAvg as the private strategy (the coordinator's draws from a secret key).
 */
function planOf(
  options: FederatedSimOptions,
  accountant: RdpAccountant | undefined,
  dpSeed: number,
  length: number,
): (round: number) => CombinePlan {
  const dp = options.dp;
  const spec = simCombineSpec({ ...options, model: options.hyper.model });
  const strategy = dp && new DpFedAvg({
    clip: dp.clip,
    noiseMultiplier: dp.noiseMultiplier,
    seed: dpSeed,
    accountant,
    length,
  });
  return (round) => combinePlanOf(spec, round, strategy);
}

/** The job-spec fields {@link combinePlanOf} reads. */
export type CombineSpec = Parameters<typeof combinePlanOf>[0];

/**
 * The job-spec fields of a simulated (or benchmarked) round: FedAvg with the default quorum,
 * deadline and cluster size (which combining does not read) and no layer rules, plus the
 * robust rule, DP policy, partition codec and asynchronous delivery asked for.
 */
export function simCombineSpec(o: {
  model: ModelConfig;
  robust?: JobSpec["robust"];
  dp?: SimDpOptions;
  partition?: { jobSeed: number; parts?: number };
  delays?: readonly number[];
}): CombineSpec {
  const aggregation = {
    strategy: "fedavg" as const,
    quorum: DEFAULT_QUORUM,
    deadlineMs: DEFAULT_ROUND_DEADLINE_MS,
    clusterSize: DEFAULT_CLUSTER_SIZE,
  };
  const privacy = o.dp && {
    clip: o.dp.clip,
    noiseMultiplier: o.dp.noiseMultiplier,
    delta: o.dp.delta ?? 1e-5,
    maxEpsilon: o.dp.maxEpsilon ?? Infinity,
  };
  const maxStaleness = Math.max(0, ...(o.delays ?? []));
  return {
    seed: o.partition?.jobSeed ?? 0,
    model: o.model,
    aggregation,
    ...(o.robust ? { robust: o.robust } : {}),
    ...(privacy ? { privacy } : {}),
    ...(o.partition ? { compression: { codec: "partition", parts: o.partition.parts } } : {}),
    ...(o.delays ? { asynchronous: { maxStaleness } } : {}),
  };
}

type Sent = { update: ClientUpdate; base: number; client: number };

/** Every client trains from its (possibly stale) base weights and sends its encoded delta. */
function clientsTrain(
  trainer: SimTrainer,
  sim: Sim,
  history: readonly Float32Array[],
  round: number,
): { updates: Sent[]; bytes: number } {
  const { options: o, length } = sim;
  const version = history.length - 1;
  const updates: Sent[] = [];
  let bytes = 0;
  for (let i = 0; i < o.clients; i++) {
    const base = Math.max(0, version - (o.delays?.[i] ?? 0));
    const kind = o.byzantine?.[i];
    const honest = kind === "lazy" ? undefined : trainLocal(
      trainer,
      history[base]!,
      {
        jobId: `0x${"00".repeat(32)}`,
        round,
        seed: o.taskSeed?.(i) ?? mixSeed(sim.seed, i + 1),
        localSteps: o.localSteps,
        proofEvery: o.localSteps,
        domain: UNCHECKED_DOMAIN,
        data: o.shards[i % o.shards.length]!.train,
        hyper: o.roundHyper?.(round) ?? o.hyper,
      },
      sim.keys[i]!,
      { now: () => 0n },
    );
    const claimed = honest?.samples ?? o.localSteps * o.hyper.B * o.hyper.accumSteps;
    const delta = corrupt(honest?.delta ?? new Float32Array(length), kind, sim.rng);
    if (!allFinite(delta)) continue; // a client whose training blew up sends nothing
    const payload = sim.codecOf(i, round).encode(delta, sim.residuals[i]).bytes;
    bytes += payload.length;
    const nodeId = sim.keys[i]!.publicKeyHex;
    const update = { nodeId, delta: decodePayload(payload, length), numSamples: claimed };
    updates.push({ update, base, client: i });
  }
  return { updates, bytes };
}

/** The round's combine step, or the accountant's refusal. */
function combineSent(
  sim: Sim,
  round: number,
  version: number,
  sent: readonly Sent[],
): { delta: Float32Array; rejected: number } | BudgetExceededError {
  const updates = sent.map((u) => ({ ...u.update, slot: u.client, staleness: version - u.base }));
  sim.options.observe?.(round, updates);
  try {
    const out = combineRound(sim.plan(round), updates);
    return { delta: out.delta, rejected: out.rejected.length };
  } catch (e) {
    if (e instanceof BudgetExceededError) return e;
    throw e;
  }
}

/** The corrupted delta a Byzantine client of `kind` sends (the honest one when undefined). */
function corrupt(delta: Float32Array, kind: ByzantineKind | undefined, rng: Prng): Float32Array {
  switch (kind) {
    case undefined:
    case "lazy":
      return delta;
    case "noise":
      return delta.map(() => BYZANTINE_NOISE_STD * rng.nextGaussian());
    case "sign-flip":
      return delta.map((x) => -SIGN_FLIP_FACTOR * x);
    case "scale":
      return delta.map((x) => SCALE_FACTOR * x);
  }
}

function checkOptions(o: FederatedSimOptions): void {
  for (
    const [name, v] of [["clients", o.clients], ["rounds", o.rounds], [
      "localSteps",
      o.localSteps,
    ]] as const
  ) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Cannot simulate: ${name} ${v} is not a positive integer`);
    }
  }
  if (o.shards.length === 0) throw new RangeError("Cannot simulate: no shard");
  if (o.delays && o.delays.length !== o.clients) {
    throw new RangeError(`Cannot simulate: ${o.delays.length} delays for ${o.clients} clients`);
  }
  if (o.partition && (o.codec || o.delays)) {
    throw new TypeError("Cannot simulate: partition sets the codec and runs synchronously");
  }
  if (o.dp && (o.robust || o.delays)) {
    throw new TypeError("Cannot simulate: dp replaces the robust rule and runs synchronously");
  }
}

/** The first `perShard` validation batches of every distinct shard the clients use. */
function shardEvalBatches(
  shards: readonly Shard[],
  clients: number,
  hyper: Hyper,
  perShard: number,
): Batch[] {
  const used = shards.slice(0, Math.min(clients, shards.length));
  return used.flatMap((s) => evalBatches(s.val, hyper.B * hyper.accumSteps, hyper.T, perShard));
}

function meanLoss(evalLoss: EvalLossFn, w: Float32Array, batches: Batch[], hyper: Hyper): number {
  if (!allFinite(w)) return NaN;
  let sum = 0;
  for (const b of batches) sum += evalLoss(w, b, hyper);
  return sum / batches.length;
}

/** 32-bit integer mix of a seed and a stream id (murmur3 finaliser). */
function mixSeed(seed: number, stream: number): number {
  let x = (Math.imul(seed >>> 0, 0x9e3779b1) ^ stream) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A deterministic 32-byte Ed25519 secret for client `i` (simulation only). */
function secretFor(seed: number, i: number): Uint8Array {
  const rng = new Prng(mixSeed(seed, 0x10000 + i));
  const out = new Uint8Array(32);
  const words = new DataView(out.buffer);
  for (let j = 0; j < 8; j++) words.setUint32(4 * j, rng.nextUint32(), true);
  return out;
}
