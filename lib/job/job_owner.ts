/**
 * What a job owner prepares before paying for a job: the initial weights, the data shards and
 * a held-out validation set in SVDB, and the job spec that ties them together. Returns the spec
 * and its CID; `jobSpecHash(spec)` is the paramsHash to escrow with AIJobManager.submitTrain.
 *
 * @example
 * ```ts
 * import { MemoryBlockstore } from "../store/memory_blockstore.ts";
 * import { Store } from "../store/store.ts";
 * import { prepareJob } from "./job_owner.ts";
 * const store = new Store(new MemoryBlockstore());
 * const text = new TextEncoder().encode("a tiny corpus of words. ".repeat(200));
 * const { spec } = await prepareJob(store, {
 *   model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
 *   shards: [{ name: "tiny", train: text, val: text }],
 *   rounds: 2, localSteps: 2, B: 2, T: 16,
 * });
 * console.assert(spec.shards.length === 1);
 * ```
 */
import type { ModelConfig } from "../../kernel/params.ts";
import { initWeights, paramLayout } from "../../kernel/params.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import type { Shard } from "../../kernel/data.ts";
import { encodeCheckpoint } from "../model/checkpoint.ts";
import { concatBytes } from "../crypto/digest.ts";
import { encodeJobSpec, type JobSpec, parseJobSpec } from "./job_spec.ts";
import type { Store } from "../store/store.ts";
import { checkPrivacyBudget } from "./privacy_plan.ts";
import { DEFAULT_QUORUM, DEFAULT_ROUND_DEADLINE_MS } from "./round_policy.ts";
import { DEFAULT_ADAMW } from "../../kernel/optimizer.ts";
import { DEFAULT_CLUSTER_SIZE } from "../strategy/hierarchical.ts";
import { DILOCO_OUTER_LR, DILOCO_OUTER_MOMENTUM } from "../strategy/outer_optimizer.ts";
import type { ServerOptimizerConfig } from "../strategy/server_optimizer.ts";

/** The job's seed when the owner gives none. */
const DEFAULT_SEED = 1337;

export interface PrepareJobOptions {
  model: ModelConfig;
  shards: Shard[];
  rounds: number;
  localSteps: number;
  B: number;
  T: number;
  /**
   * The local lr. AdamW defaults to {@link defaultAdamWLr} of `B`; SGD to 0.3 (unmeasured).
   */
  lr?: number;
  /** Local optimizer (default AdamW; SGD-momentum suits top-k compression). */
  optimizer?: "adamw" | "sgd";
  /**
   * The lr's floor as a fraction of `lr`: 1 (the AdamW default) keeps it constant, below 1 it
   * follows a cosine down to it. AdamW defaults to constant because bench/federated_quality.ts
   * measured the cosine over rounds losing on every seed of both jobs (federated/central 1.237
   * vs 1.171 on the demo's job, 1.253 vs 1.166 on bench:federated's); SGD keeps 0.1 (unmeasured).
   */
  minLrRatio?: number;
  /**
   * `round` (default): constant within a round, a cosine over rounds; `step`: one warmup of
   * `warmupSteps` and a cosine over the job's steps, continued by every node (JobSpec.optimizer).
   */
  schedule?: "round" | "step";
  warmupSteps?: number;
  proofEvery?: number;
  seed?: number;
  /** How the round's delta moves the global weights (default fedavg; JobSpec.aggregation). */
  strategy?: JobSpec["aggregation"]["strategy"];
  /**
   * The server optimizer's fields (outerLr, outerMomentum, outerNesterov, outerBeta1/2,
   * outerTau, outerBiasCorrection, outerWarmupRounds); diloco defaults to its published outer
   * lr and momentum (outer_optimizer.ts).
   */
  outer?: Omit<ServerOptimizerConfig, "strategy">;
  quorum?: number;
  deadlineMs?: number;
  compression?: JobSpec["compression"];
  robust?: JobSpec["robust"];
  privacy?: JobSpec["privacy"];
  /**
   * Nodes the owner will ask for (submitTrain's nodesWanted); required with `privacy`, whose
   * budget is checked here for the data owner with the most copies per round.
   */
  nodes?: number;
  verification?: JobSpec["verification"];
  asynchronous?: JobSpec["asynchronous"];
  /** Hierarchical aggregation by worker clusters of `clusterSize` (default 16). */
  hierarchical?: boolean;
  clusterSize?: number;
  clusterAudit?: number;
  /** Layer-wise merging rules (see JobSpec.aggregation.layers). */
  layers?: JobSpec["aggregation"]["layers"];
  /**
   * Secure aggregation (JobSpec.secureAggregation): the coordinator learns only each round's sum;
   * with `privacy` the noise is added by the nodes. Needs `nodes` >= 2.
   */
  secureAggregation?: JobSpec["secureAggregation"];
  /**
   * Most validation bytes kept per shard (default 8 KiB); the coordinator evaluates every shard's
   * slice (sampled within each when the set is large; see lib/coordinator/job.ts).
   */
  valBytesPerShard?: number;
}

/** What {@link uploadJobFiles} stored: the CIDs the spec points to. */
interface JobFiles {
  initialWeights: string;
  shards: { name: string; cid: string }[];
  validation: string;
  validationShards: number[];
}

/**
 * Uploads weights, shards and validation bytes, then the spec; returns both.
 *
 * @throws {TypeError} "Cannot read job spec: <field>" when the options make an invalid spec
 * @throws {PrivacyBudgetError} when the planned rounds would exceed the privacy budget
 */
export async function prepareJob(
  store: Store,
  o: PrepareJobOptions,
): Promise<{ spec: JobSpec; specCid: string }> {
  checkOptions(o);
  const spec = jobSpecOf(o, await uploadJobFiles(store, o));
  // Refuse a bad spec here, before the owner escrows money for a job no coordinator accepts.
  const bytes = encodeJobSpec(spec);
  parseJobSpec(bytes);
  const specCid = (await store.put(bytes)).toString();
  return { spec, specCid };
}

/** Refuses what the owner must fix before anything is uploaded or escrowed. */
function checkOptions(o: PrepareJobOptions): void {
  if (o.privacy) {
    if (o.nodes === undefined) throw new TypeError("Cannot prepare job: privacy needs `nodes`");
    // Before anything is uploaded or escrowed: an over-budget job is the owner's to fix now.
    checkPrivacyBudget(o, o.nodes);
  }
  if (o.secureAggregation && o.nodes !== undefined && o.nodes < 2) {
    throw new TypeError("Cannot prepare job: secure aggregation needs at least 2 nodes");
  }
}

/** Puts the initial weights, every training shard and the held-out validation bytes. */
async function uploadJobFiles(store: Store, o: PrepareJobOptions): Promise<JobFiles> {
  const weights = initWeights(loadKernel(), paramLayout(o.model), o.seed ?? DEFAULT_SEED);
  const checkpoint = encodeCheckpoint(o.model, weights, { round: "init" });
  const initialWeights = (await store.put(checkpoint)).toString();
  const shards = [];
  for (const s of o.shards) {
    shards.push({ name: s.name, cid: (await store.put(s.train)).toString() });
  }
  const per = o.valBytesPerShard ?? 8192;
  const held = o.shards.map((s) => s.val.subarray(0, per));
  const validation = (await store.put(concatBytes(...held))).toString();
  return { initialWeights, shards, validation, validationShards: held.map((v) => v.length) };
}

/** The job spec of the options over the uploaded files. */
function jobSpecOf(o: PrepareJobOptions, files: JobFiles): JobSpec {
  return {
    version: 1,
    model: o.model,
    batch: { B: o.B, T: o.T, accumSteps: 1 },
    optimizer: optimizerOf(o),
    rounds: o.rounds,
    localSteps: o.localSteps,
    proofEvery: o.proofEvery ?? Math.max(1, Math.floor(o.localSteps / 4)),
    seed: o.seed ?? DEFAULT_SEED,
    ...files,
    aggregation: aggregationOf(o),
    ...(o.compression ? { compression: o.compression } : {}),
    ...(o.robust ? { robust: o.robust } : {}),
    ...(o.privacy ? { privacy: o.privacy } : {}),
    ...(o.verification ? { verification: o.verification } : {}),
    ...(o.asynchronous ? { asynchronous: o.asynchronous } : {}),
    ...(o.secureAggregation ? { secureAggregation: o.secureAggregation } : {}),
  };
}

/**
 * AdamW's default lr for a local batch of `B` sequences: 3e-3 from B 8 up, 2e-3 below.
 * bench/federated_quality.ts measured both on both jobs at B 1, 2, 4 and 8 (the same samples in
 * more steps): 2e-3 won below B 8 on every job, 3e-3 at B 8.
 *
 * @example
 * ```ts
 * console.assert(defaultAdamWLr(2) === 2e-3 && defaultAdamWLr(8) === 3e-3);
 * ```
 */
export function defaultAdamWLr(B: number): number {
  return B < 8 ? 2e-3 : 3e-3;
}

/** The nodes' local optimizer: AdamW (kernel defaults) or SGD-momentum without decay. */
function optimizerOf(o: PrepareJobOptions): JobSpec["optimizer"] {
  const sgd = o.optimizer === "sgd";
  return {
    ...(sgd ? { kind: "sgd" as const } : {}),
    lr: o.lr ?? (sgd ? 0.3 : defaultAdamWLr(o.B)),
    minLrRatio: o.minLrRatio ?? (sgd ? 0.1 : 1),
    ...(o.schedule ? { schedule: o.schedule } : {}),
    ...(o.warmupSteps !== undefined ? { warmupSteps: o.warmupSteps } : {}),
    weightDecay: sgd ? 0 : DEFAULT_ADAMW.weightDecay,
    gradClip: 1,
  };
}

/** How rounds close and combine: quorum, deadline, clusters, layers, the server optimizer. */
function aggregationOf(o: PrepareJobOptions): JobSpec["aggregation"] {
  const diloco = { outerLr: DILOCO_OUTER_LR, outerMomentum: DILOCO_OUTER_MOMENTUM };
  return {
    strategy: o.strategy ?? "fedavg",
    quorum: o.quorum ?? DEFAULT_QUORUM,
    deadlineMs: o.deadlineMs ?? DEFAULT_ROUND_DEADLINE_MS,
    clusterSize: o.clusterSize ?? DEFAULT_CLUSTER_SIZE,
    ...(o.hierarchical ? { hierarchical: true } : {}),
    ...(o.clusterAudit !== undefined ? { clusterAudit: o.clusterAudit } : {}),
    ...(o.layers ? { layers: o.layers } : {}),
    ...(o.strategy === "diloco" ? diloco : {}),
    ...o.outer,
  };
}
