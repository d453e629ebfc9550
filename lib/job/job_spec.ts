/**
 * The job specification a job owner publishes in SVDB: model, hyper-parameters, rounds, data
 * shards and aggregation policy. Its keccak256 is the `paramsHash` escrowed on chain, so the
 * coordinator and every worker can check they run exactly what the owner paid for.
 *
 * @example
 * ```ts
 * import { encodeJobSpec, parseJobSpec, type JobSpec } from "./job_spec.ts";
 * const spec: JobSpec = {
 *   version: 1,
 *   model: { kind: "gpt", maxT: 32, layers: 1, heads: 2, width: 16 },
 *   batch: { B: 4, T: 32, accumSteps: 1 },
 *   optimizer: { lr: 3e-3, minLrRatio: 0.1, weightDecay: 0.01, gradClip: 1 },
 *   rounds: 3, localSteps: 10, proofEvery: 5, seed: 1,
 *   initialWeights: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
 *   shards: [{ name: "brown/news", cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy" }],
 *   validation: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
 *   aggregation: { strategy: "fedavg", quorum: 0.8, deadlineMs: 60000, clusterSize: 16 },
 * };
 * console.assert(parseJobSpec(encodeJobSpec(spec)).rounds === 3);
 * ```
 */
import type { ModelConfig } from "../../kernel/params.ts";
import { paramLayout, validateConfig } from "../../kernel/params.ts";
import type { Hyper } from "../../kernel/train_step.ts";
import { learningRate } from "../../kernel/schedule.ts";
import { DEFAULT_ADAMW, DEFAULT_SGD_MOMENTUM } from "../../kernel/optimizer.ts";
import { parseCid } from "../store/cid.ts";
import { chooseTrainer, fitsWasmMemory, MAX_STEP_LINEAR_BYTES } from "./planner.ts";
import { digestHex, type Hex } from "../crypto/digest.ts";

export interface JobSpec {
  version: 1;
  model: ModelConfig;
  batch: { B: number; T: number; accumSteps: number };
  /**
   * The local optimizer inside a round (AdamW unless `kind: "sgd"`, SGD with momentum 0.9, which
   * keeps updates sparse enough for top-k compression). With `schedule: "round"` (the default)
   * the lr is constant within a round and follows a cosine over rounds down to minLrRatio; with
   * `"step"` it is one linear warmup of `warmupSteps` then a cosine over the job's
   * rounds x localSteps steps, which every node continues from the round's global step count
   * (its AdamW state still starts fresh each round).
   */
  optimizer: {
    kind?: "adamw" | "sgd";
    lr: number;
    minLrRatio: number;
    weightDecay: number;
    gradClip: number;
    schedule?: "round" | "step";
    warmupSteps?: number;
  };
  rounds: number;
  localSteps: number;
  proofEvery: number;
  seed: number;
  /** CID of the initial weights (lib/model/checkpoint.ts safetensors). */
  initialWeights: string;
  /** Training shards, one per natural source (non-IID); task t trains on shard t mod n. */
  shards: { name: string; cid: string }[];
  /** CID of held-out validation bytes the coordinator evaluates each round on. */
  validation: string;
  /**
   * Bytes of each shard's held-out slice in `validation`, in shard order: the coordinator then
   * reports every shard's loss and their mean. Specs without it are evaluated as one set.
   */
  validationShards?: number[];
  aggregation: {
    /**
     * How the round's combined delta moves the global weights (lib/strategy/server_optimizer.ts):
     * added as it is (`fedavg`), or as the pseudo-gradient of a server optimizer: SGD with
     * momentum (`fedavgm`), with Nesterov momentum (`diloco`), Adam or Yogi (`fedadam`,
     * `fedyogi`, Reddi et al. 2021).
     */
    strategy: ServerStrategy;
    /** Fraction of assigned nodes whose updates close a round (default 0.8). */
    quorum: number;
    deadlineMs: number;
    /** Updates per cluster aggregator in hierarchical FedAvg. */
    clusterSize: number;
    /**
     * Hierarchical aggregation by workers: rounds with more than clusterSize updates are summed by
     * one worker per cluster, and the coordinator combines the cluster means.
     */
    hierarchical?: boolean;
    /** Share of clusters the coordinator re-computes to check their aggregators (default 0.25). */
    clusterAudit?: number;
    /**
     * Layer-wise merging: per tensor (name, or prefix ending in `*`) a weight on the combined
     * delta, or `freeze` to keep it fixed (e.g. `{"wte": {"freeze": true}}`).
     */
    layers?: Record<string, { weight?: number; freeze?: boolean }>;
    /** Server learning rate (diloco 0.7, fedavgm 1; required for fedadam/fedyogi). */
    outerLr?: number;
    /** Momentum of diloco/fedavgm in [0, 1) (default 0.9). */
    outerMomentum?: number;
    /** Nesterov look-ahead (default: true for diloco, false for fedavgm). */
    outerNesterov?: boolean;
    /** fedadam/fedyogi moment decays in [0, 1) (defaults 0.9, 0.99) and adaptivity (1e-3). */
    outerBeta1?: number;
    outerBeta2?: number;
    outerTau?: number;
    /**
     * fedadam/fedyogi: divide the moments by `1 - beta^t` as Adam does (default false, Reddi et
     * al.'s rule). With one local SGD step at lr 1 a round it makes FedAdam Adam on the nodes'
     * averaged gradient (the synchronous recipe, bench/federated_quality.ts).
     */
    outerBiasCorrection?: boolean;
    /**
     * Rounds over which the server lr ramps linearly up to `outerLr` (default 0), with any
     * server optimizer; the synchronous recipe warms Adam up over 5% of the job's rounds.
     */
    outerWarmupRounds?: number;
  };
  /**
   * How workers encode updates (default fp32 safetensors). `fraction` is top-k's density;
   * `parts` is the partition codec's number of parts (default 8: each node sends 1/8).
   */
  compression?: { codec: CodecName; fraction?: number; parts?: number };
  /** A Byzantine-robust strategy instead of FedAvg; `f` is the tolerated Byzantine count. */
  robust?: { strategy: RobustName; f?: number; beta?: number };
  /**
   * FedBuff-style asynchronous aggregation for nodes on slow links: an update trained on one of
   * the last `maxStaleness` checkpoints still counts, weighted 1/sqrt(1 + staleness).
   */
  asynchronous?: { maxStaleness: number };
  /**
   * DP-FedAvg: per-client clip, noise multiplier z (what the accountant charges per round), and
   * the (epsilon, delta) budget of each data owner. With `adaptiveClip` the clip starts at `clip`
   * and follows a quantile of the update norms (Andrew et al. 2021): the clipped count is noised
   * with std `countNoiseStd` (> z/2) and the update noise raised so the pair costs z.
   */
  privacy?: {
    clip: number;
    noiseMultiplier: number;
    delta: number;
    maxEpsilon: number;
    adaptiveClip?: { targetQuantile: number; learningRate: number; countNoiseStd: number };
  };
  /**
   * Verification policy (design doc, "Verification: Ensuring Nodes Actually Did Training" and "Slashing Malicious Nodes"): `redundancy` nodes per task (same shard, seed and
   * starting weights; their results must match), the share of commits challenged each round,
   * the share of update chunks a gradient sample opens (0.01-0.05), and the share of rounds
   * spot-checked in full (default 0.1). Without it, no task groups are recorded on chain.
   * `committee`: on spot-checked rounds a reputation-weighted committee of the job's nodes
   * recomputes every committed node and attests the result on chain (off by default: it costs
   * each member a recomputation per target).
   */
  verification?: {
    redundancy: number;
    challengeRate: number;
    sampleRate: number;
    spotCheckRate?: number;
    committee?: boolean;
  };
  /**
   * Secure aggregation (SecAgg+, lib/privacy/secure_aggregation/): the coordinator learns only the
   * sum of a round's updates. Workers send masked fixed-point inputs instead of updates; the round's
   * delta is the unmasked sum over the included nodes divided by their number. `degree`: neighbours
   * per node (even; default ~6 log2 n, capped at n - 1); `consistencyCheck`: the extra signed round
   * that stops an actively malicious coordinator from equivocating about who dropped (default
   * true); `clip`: each coordinate's bound without `privacy` (default 1; with `privacy` it is
   * `privacy.clip`, and each node L2-clips its delta and adds its share of the noise); `stageMs`:
   * a protocol stage closes when every live node answered or this long after it opened (default
   * 60 s); `minInputs`: the fewest nodes a session's roster and a released sum may hold (default
   * and least 3: a sum of two tells each node the other's update; an owner raises it so that a
   * coordinator needs that many colluding nodes to isolate one, and the spec's hash on chain keeps
   * it). Refused with robust rules, codecs other than fp32, hierarchical or asynchronous
   * aggregation, redundancy above 1 and adaptive clipping: each needs the individual updates.
   */
  secureAggregation?: {
    consistencyCheck?: boolean;
    degree?: number;
    clip?: number;
    stageMs?: number;
    minInputs?: number;
  };
}

export const SERVER_STRATEGIES = ["fedavg", "fedavgm", "diloco", "fedadam", "fedyogi"] as const;
export type ServerStrategy = typeof SERVER_STRATEGIES[number];
export const CODECS = ["fp32", "int8", "int4", "topk", "topk-int8", "partition"] as const;
export type CodecName = typeof CODECS[number];
export const ROBUST = ["median", "trimmed-mean", "krum", "multi-krum", "bulyan"] as const;
export type RobustName = typeof ROBUST[number];

/** Canonical bytes of a spec (sorted keys), the preimage of its paramsHash. */
export function encodeJobSpec(spec: JobSpec): Uint8Array {
  return new TextEncoder().encode(canonicalJson(spec));
}

/** keccak256 of the canonical bytes: the paramsHash of AIJobManager.submitTrain. */
export function jobSpecHash(spec: JobSpec): Hex {
  return digestHex(encodeJobSpec(spec));
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${
      Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) =>
        `${JSON.stringify(k)}:${canonicalJson(o[k])}`
      ).join(",")
    }}`;
  }
  return JSON.stringify(v);
}

function need(ok: boolean, what: string): void {
  if (!ok) throw new TypeError(`Cannot read job spec: ${what}`);
}

/** Runs a check that throws its own error and re-throws it naming the spec field. */
function field(name: string, check: () => unknown): void {
  try {
    check();
  } catch (cause) {
    throw new TypeError(`Cannot read job spec: ${name}: ${(cause as Error).message}`, { cause });
  }
}

const posInt = (x: unknown) => Number.isInteger(x) && (x as number) > 0;
const num = (x: unknown, lo: number, hi: number) =>
  typeof x === "number" && Number.isFinite(x) && x >= lo && x <= hi;

/**
 * Most local steps a round may take: AIJobManager's MAX_STEPS_PER_ROUND, which refuses a job whose
 * stepsPerRound (its localSteps, workTerms) is larger. Found in the kernel audit: only a positive
 * integer was required, and a worker allocates per-step records (losses, 68-byte step records) for
 * the whole round up front, so a spec of 2^31 steps had it ask for ~150 GB before its first step.
 */
export const MAX_LOCAL_STEPS = 1_000_000;

/** Most bytes of a job spec: shard lists of thousands of entries take a few hundred KB. */
export const MAX_SPEC_BYTES = 4 * 2 ** 20;

/** Parses and validates spec bytes; every problem names the field. */
export function parseJobSpec(bytes: Uint8Array): JobSpec {
  let s: JobSpec;
  try {
    s = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new TypeError("Cannot read job spec: not JSON", { cause });
  }
  need(s?.version === 1, "version must be 1");
  checkModel(s);
  checkOptimizer(s.optimizer);
  checkSchedule(s);
  checkStepMemory(s);
  checkData(s);
  checkOptionalSections(s);
  checkAggregation(s.aggregation);
  if (s.compression !== undefined) checkCompression(s.compression);
  if (s.robust !== undefined) checkRobust(s.robust);
  if (s.asynchronous !== undefined) checkAsynchronous(s.asynchronous);
  if (s.privacy !== undefined) checkPrivacy(s.privacy, s.robust);
  if (s.privacy !== undefined) checkShardsOnce(s);
  if (s.verification !== undefined) checkVerification(s.verification);
  // An error-feedback codec's update depends on the node's private residual: a group mate that
  // missed a round, or a replacement starting from zeros, commits outside its group's majority
  // in every later round, and redundancy settlement slashes it 50%.
  const codec = s.compression?.codec ?? "fp32";
  need(
    (s.verification?.redundancy ?? 1) === 1 || codec === "fp32" || codec === "partition",
    `verification.redundancy above 1 needs a codec without error feedback (fp32 or partition), ` +
      `not ${codec}: a node's ${codec} update depends on its own residual`,
  );
  if (s.secureAggregation !== undefined) checkSecureAggregation(s);
  return s;
}

function checkModel(s: JobSpec): void {
  need(s.model?.kind === "gpt" || s.model?.kind === "ssm", "model.kind must be gpt or ssm");
  field("model", () => validateConfig(s.model));
  need(posInt(s.batch?.B) && posInt(s.batch?.T) && posInt(s.batch?.accumSteps), "batch sizes");
  need(s.batch.T <= s.model.maxT, "batch.T must not exceed model.maxT");
  const flops = stepFlops(s);
  need(
    flops <= MAX_STEP_FLOPS,
    `a step (batch.B x batch.T x batch.accumSteps tokens) of ~${(flops / 1e12).toFixed(1)} ` +
      `TFLOP is more than a worker does between its chores (${MAX_STEP_FLOPS / 1e12} TFLOP): ` +
      "split it into more local steps",
  );
}

/**
 * Most work one training step may be, in FLOPs (6 a parameter a token): half an hour at 1 GFLOP/s,
 * a slow laptop's pace. A worker heartbeats and answers challenges between steps, and a challenge
 * window is an hour. Found in the worker audit: a job whose accumSteps made one step of a tiny
 * model ~5 hours long put them off that long (three missed heartbeat hours cost 10% of the
 * stake); escrowed, such a job was then refused by every worker (found reviewing that fix).
 */
export const MAX_STEP_FLOPS = 1.8e12;

/**
 * The FLOPs of one training step of `spec` (6 a parameter a token of the step's batch).
 *
 * @example
 * ```ts
 * import { stepFlops } from "./job_spec.ts";
 * const model = { kind: "gpt", vocab: 256, maxT: 32, width: 32, heads: 2, layers: 1 } as const;
 * console.assert(stepFlops({ model, batch: { B: 8, T: 32, accumSteps: 1 } }) > 0);
 * ```
 */
export function stepFlops(spec: Pick<JobSpec, "model" | "batch">): number {
  const { B, T, accumSteps } = spec.batch;
  return 6 * paramLayout(spec.model).size * B * T * accumSteps;
}

/**
 * A step's kernel workspace must fit one 32-bit WASM memory on a one-thread node, the least any
 * node needs (more threads add GEMM scratch; a worker checks its own count, task_check.ts
 * refuseMemory). Found in the kernel audit: a tiny model with a batch of 32,768 x 64 took ~10 GiB
 * of linear memory with either trainer, passed every other check, then failed on memory.grow on
 * every node at every retry, and bricked the browser tabs' kernel.
 */
function checkStepMemory(s: JobSpec): void {
  const choice = chooseTrainer(roundHyper(s, 0), { threads: 1 });
  const gib = (b: number) => (b / 2 ** 30).toFixed(2);
  need(
    fitsWasmMemory(choice[choice.kind]),
    `a step's kernel workspace (batch.B x batch.T tokens) of ` +
      `${gib(choice[choice.kind].linearBytes)} GiB is more than a 32-bit WASM memory gives it ` +
      `(${gib(MAX_STEP_LINEAR_BYTES)} GiB): lower batch.B and raise batch.accumSteps`,
  );
}

function checkOptimizer(o: JobSpec["optimizer"]): void {
  need(num(o?.lr, 0, 10) && num(o.minLrRatio, 0, 1), "optimizer.lr");
  need(
    o.kind === undefined || o.kind === "adamw" || o.kind === "sgd",
    "optimizer.kind must be adamw or sgd",
  );
  need(num(o.weightDecay, 0, 1) && num(o.gradClip, 0, 1e6), "optimizer");
  need(
    o.schedule === undefined || o.schedule === "round" || o.schedule === "step",
    "optimizer.schedule must be round or step",
  );
  need(
    o.warmupSteps === undefined ||
      (Number.isInteger(o.warmupSteps) && o.warmupSteps >= 0 && o.schedule === "step"),
    "optimizer.warmupSteps must be a non-negative integer, with schedule step",
  );
}

function checkSchedule(s: JobSpec): void {
  need(posInt(s.rounds) && s.rounds <= 100_000, "rounds");
  need(posInt(s.localSteps) && posInt(s.proofEvery), "localSteps/proofEvery");
  need(
    s.localSteps <= MAX_LOCAL_STEPS,
    `localSteps must be at most ${MAX_LOCAL_STEPS} (AIJobManager's MAX_STEPS_PER_ROUND)`,
  );
  need(
    (s.optimizer.warmupSteps ?? 0) < s.rounds * s.localSteps,
    "optimizer.warmupSteps must be below rounds x localSteps",
  );
  need(Number.isInteger(s.seed) && s.seed >= 0 && s.seed < 2 ** 32, "seed must be a u32");
}

function checkData(s: JobSpec): void {
  field("initialWeights", () => parseCid(s.initialWeights));
  field("validation", () => parseCid(s.validation));
  const v = s.validationShards;
  need(
    v === undefined ||
      (Array.isArray(v) && v.length === s.shards?.length && v.every(posInt)),
    "validationShards must list a positive byte count for every shard",
  );
  need(Array.isArray(s.shards) && s.shards.length > 0, "shards must be a non-empty list");
  s.shards.forEach((sh, i) => {
    need(typeof sh?.name === "string", `shards[${i}].name must be a string`);
    field(`shards[${i}].cid`, () => parseCid(sh.cid));
  });
}

/**
 * With privacy, each shard once, however its CID is spelled: found in the privacy audit, a shard
 * listed three times was in three counted updates a round while the accountant charged each copy
 * as another owner's data (19.8 charged for a true epsilon of 100 at z = 1 over 10 rounds).
 */
function checkShardsOnce(s: JobSpec): void {
  const seen = new Map<string, number>();
  s.shards.forEach((sh, i) => {
    const cid = parseCid(sh.cid).toV1().toString();
    need(
      !seen.has(cid),
      `shards[${i}].cid is shards[${seen.get(cid)}]'s: with privacy each data owner's shard is ` +
        "listed once (each copy would be charged as another owner's data)",
    );
    seen.set(cid, i);
  });
}

function checkOptionalSections(s: JobSpec): void {
  const sections = [
    "compression",
    "robust",
    "asynchronous",
    "privacy",
    "verification",
    "secureAggregation",
  ] as const;
  for (const k of sections) {
    need(
      s[k] === undefined || (typeof s[k] === "object" && s[k] !== null && !Array.isArray(s[k])),
      `${k} must be an object when present`,
    );
  }
}

function checkAggregation(a: JobSpec["aggregation"]): void {
  need(
    SERVER_STRATEGIES.includes(a?.strategy),
    `aggregation.strategy must be one of ${SERVER_STRATEGIES}`,
  );
  checkServerOptimizer(a);
  need(num(a.quorum, 0.01, 1) && posInt(a.deadlineMs) && posInt(a.clusterSize), "aggregation");
  need(
    a.hierarchical === undefined || typeof a.hierarchical === "boolean",
    "aggregation.hierarchical",
  );
  need(a.clusterAudit === undefined || num(a.clusterAudit, 0, 1), "aggregation.clusterAudit");
  for (const [name, rule] of Object.entries(a.layers ?? {})) {
    need(
      typeof rule === "object" && rule !== null &&
        (rule.weight === undefined || num(rule.weight, 0, 10)) &&
        (rule.freeze === undefined || typeof rule.freeze === "boolean"),
      `aggregation.layers.${name} must be {weight?: 0-10, freeze?: boolean}`,
    );
  }
}

/** The server optimizer's fields: only those of the chosen strategy, each in its range. */
function checkServerOptimizer(a: JobSpec["aggregation"]): void {
  const momentum = a.strategy === "diloco" || a.strategy === "fedavgm";
  const adaptive = a.strategy === "fedadam" || a.strategy === "fedyogi";
  need(
    a.outerLr === undefined ? !adaptive : (momentum || adaptive) && num(a.outerLr, 1e-6, 100),
    adaptive
      ? `aggregation.outerLr in (0, 100] is required with ${a.strategy}`
      : `aggregation.outerLr must be in (0, 100], with diloco, fedavgm, fedadam or fedyogi`,
  );
  const only = (ok: boolean, name: string, what: string) =>
    need(ok, `aggregation.${name} must be ${what}`);
  only(
    a.outerMomentum === undefined || (momentum && num(a.outerMomentum, 0, 0.999)),
    "outerMomentum",
    "in [0, 0.999], with diloco or fedavgm",
  );
  only(
    a.outerNesterov === undefined || (momentum && typeof a.outerNesterov === "boolean"),
    "outerNesterov",
    "a boolean, with diloco or fedavgm",
  );
  for (const k of ["outerBeta1", "outerBeta2"] as const) {
    only(
      a[k] === undefined || (adaptive && num(a[k], 0, 0.999999)),
      k,
      "in [0, 1), with fedadam or fedyogi",
    );
  }
  only(
    a.outerTau === undefined || (adaptive && num(a.outerTau, 1e-12, 10)),
    "outerTau",
    "in (0, 10], with fedadam or fedyogi",
  );
  only(
    a.outerBiasCorrection === undefined ||
      (adaptive && typeof a.outerBiasCorrection === "boolean"),
    "outerBiasCorrection",
    "a boolean, with fedadam or fedyogi",
  );
  const w = a.outerWarmupRounds;
  only(
    w === undefined || ((momentum || adaptive) && Number.isInteger(w) && w >= 0 && w <= 1e6),
    "outerWarmupRounds",
    "an integer in [0, 1000000], with diloco, fedavgm, fedadam or fedyogi",
  );
}

function checkCompression(c: NonNullable<JobSpec["compression"]>): void {
  need(CODECS.includes(c.codec), `compression.codec must be one of ${CODECS}`);
  need(c.fraction === undefined || num(c.fraction, 1e-6, 1), "compression.fraction");
  const parts = c.parts;
  need(
    parts === undefined || (Number.isInteger(parts) && parts >= 2 && parts <= 0xffff),
    "compression.parts must be an integer in [2, 65535]",
  );
}

function checkRobust(r: NonNullable<JobSpec["robust"]>): void {
  need(ROBUST.includes(r.strategy), `robust.strategy must be one of ${ROBUST}`);
  need(r.f === undefined || (Number.isInteger(r.f) && r.f >= 0), "robust.f");
  need(r.beta === undefined || num(r.beta, 0, 0.49), "robust.beta");
}

function checkAsynchronous(a: NonNullable<JobSpec["asynchronous"]>): void {
  const m = a.maxStaleness;
  need(Number.isInteger(m) && m >= 1 && m <= 10, "asynchronous.maxStaleness must be 1-10");
}

function checkPrivacy(p: NonNullable<JobSpec["privacy"]>, robust: JobSpec["robust"]): void {
  need(num(p.clip, 1e-9, 1e9) && num(p.noiseMultiplier, 0, 1e6), "privacy.clip/noiseMultiplier");
  need(num(p.delta, 1e-15, 0.5) && num(p.maxEpsilon, 1e-6, 1e6), "privacy.delta/maxEpsilon");
  need(robust === undefined, "privacy and robust cannot be combined (DP-FedAvg is the strategy)");
  const a = p.adaptiveClip;
  if (a === undefined) return;
  need(num(a.targetQuantile, 0, 1), "privacy.adaptiveClip.targetQuantile must be in [0, 1]");
  need(num(a.learningRate, 1e-6, 10), "privacy.adaptiveClip.learningRate must be in (0, 10]");
  need(
    num(a.countNoiseStd, p.noiseMultiplier / 2 + 1e-9, 1e6),
    `privacy.adaptiveClip.countNoiseStd must exceed noiseMultiplier / 2 = ${p.noiseMultiplier / 2}`,
  );
}

function checkVerification(v: NonNullable<JobSpec["verification"]>): void {
  need(posInt(v.redundancy) && v.redundancy <= 10, "verification.redundancy must be 1-10");
  need(num(v.challengeRate, 0, 1), "verification.challengeRate must be in [0, 1]");
  need(v.sampleRate === 0 || num(v.sampleRate, 0.01, 0.05), "verification.sampleRate 1-5%");
  need(v.spotCheckRate === undefined || num(v.spotCheckRate, 0, 1), "verification.spotCheckRate");
  need(v.committee === undefined || typeof v.committee === "boolean", "verification.committee");
}

/**
 * Secure aggregation hides every individual update, so nothing that reads one can run with it:
 * robust rules, lossy codecs, cluster aggregators, staleness weights, redundancy's one-copy-per-task
 * count, adaptive clipping's update norms, and validator committees (each member reads its targets'
 * shards and recomputes their whole updates, and members are the job's own nodes).
 */
function checkSecureAggregation(s: JobSpec): void {
  const a = s.secureAggregation!;
  const why = "cannot be combined with secureAggregation (the coordinator sees only the sum)";
  need(
    a.consistencyCheck === undefined || typeof a.consistencyCheck === "boolean",
    "secureAggregation.consistencyCheck must be a boolean",
  );
  need(
    a.degree === undefined ||
      (Number.isInteger(a.degree) && a.degree >= 2 && a.degree <= 10_000 && a.degree % 2 === 0),
    "secureAggregation.degree must be an even integer in [2, 10000]",
  );
  need(
    a.clip === undefined || num(a.clip, 1e-9, 1e6),
    "secureAggregation.clip must be in (0, 1e6]",
  );
  need(
    a.clip === undefined || s.privacy === undefined,
    "secureAggregation.clip with privacy: privacy.clip is the bound",
  );
  // Found in the secure aggregation audit: without the check a coordinator tells some neighbours
  // a live node dropped and others it survived, and unmasks that node's input, whose noise is a
  // small share of the round's.
  need(
    a.consistencyCheck !== false || s.privacy === undefined,
    "secureAggregation.consistencyCheck cannot be false with privacy (a coordinator could " +
      "unmask one node's input, noised by its share alone)",
  );
  need(a.stageMs === undefined || posInt(a.stageMs), "secureAggregation.stageMs");
  need(
    a.minInputs === undefined ||
      (Number.isInteger(a.minInputs) && a.minInputs >= 3 && a.minInputs <= 100_000),
    "secureAggregation.minInputs must be an integer in [3, 100000]",
  );
  need(s.robust === undefined, `robust ${why}`);
  need((s.compression?.codec ?? "fp32") === "fp32", `compression other than fp32 ${why}`);
  need(!s.aggregation.hierarchical, `aggregation.hierarchical ${why}`);
  need(s.asynchronous === undefined, `asynchronous ${why}`);
  need((s.verification?.redundancy ?? 1) === 1, `verification.redundancy above 1 ${why}`);
  need(s.privacy?.adaptiveClip === undefined, `privacy.adaptiveClip ${why}`);
  need(
    !s.verification?.committee,
    "verification.committee cannot be combined with secureAggregation (a member recomputes " +
      "its targets' updates from their shards)",
  );
  need(
    (s.verification?.sampleRate ?? 0) === 0,
    "verification.sampleRate cannot be combined with secureAggregation (a gradient sample is " +
      "answered with raw chunks of the node's update, on chain)",
  );
}

/**
 * The kernel hyper-parameters of a round: constant lr within it and a cosine across rounds, or
 * (`optimizer.schedule: "step"`) the job's one warmup + cosine read at the round's global step.
 */
export function roundHyper(
  spec: Pick<JobSpec, "optimizer" | "model" | "batch" | "rounds" | "localSteps">,
  round: number,
): Hyper {
  const o = spec.optimizer;
  const schedule = o.schedule === "step"
    ? {
      lr: o.lr,
      warmupSteps: o.warmupSteps ?? 0,
      totalSteps: spec.rounds * spec.localSteps,
      minLrRatio: o.minLrRatio,
    }
    : {
      lr: learningRate(round, {
        lr: o.lr,
        warmupSteps: 0,
        totalSteps: Math.max(1, spec.rounds - 1),
        minLrRatio: o.minLrRatio,
      }),
      warmupSteps: 0,
      totalSteps: 1,
      minLrRatio: 1,
    };
  return {
    model: spec.model,
    B: spec.batch.B,
    T: spec.batch.T,
    accumSteps: spec.batch.accumSteps,
    schedule,
    ...(o.schedule === "step" ? { scheduleOffset: round * spec.localSteps } : {}),
    optimizer: o.kind === "sgd"
      ? { kind: "sgd", momentum: DEFAULT_SGD_MOMENTUM, weightDecay: o.weightDecay }
      : { ...DEFAULT_ADAMW, weightDecay: o.weightDecay },
    gradClip: o.gradClip,
  };
}

/**
 * The seed of task `task`: the redundant nodes of one task share it; every other node has a task
 * of its own, so two nodes on one shard draw different batches (distinct work, and no
 * byte-identical updates counted twice in an aggregate).
 */
export function taskSeed(spec: JobSpec, task: number): number {
  return (spec.seed ^ Math.imul(task + 1, 0x9e3779b1)) >>> 0;
}

/** The shard task `task` trains on: tasks go round-robin over the shards. */
export function taskShard(spec: Pick<JobSpec, "shards">, task: number): number {
  return task % spec.shards.length;
}

/** What one committed round is paid as on chain (AIJobManager.TrainParams): fixed by the job. */
export interface WorkTerms {
  stepsPerRound: number;
  samplesPerStep: number;
  /** GPU-seconds one step is budgeted at, for the per-batch reward. */
  secondsPerStep: number;
}

/**
 * The work terms a job escrows with: its local steps per round, the sequences per step
 * (B x accumSteps), and `secondsPerStep` (default 1). Rewards are paid for these, never for what
 * a node says it did.
 *
 * @example
 * ```ts
 * import { workTerms } from "./job_spec.ts";
 * const t = workTerms({ localSteps: 8, batch: { B: 4, T: 32, accumSteps: 2 } });
 * console.assert(t.stepsPerRound === 8 && t.samplesPerStep === 8 && t.secondsPerStep === 1);
 * ```
 */
export function workTerms(
  spec: Pick<JobSpec, "localSteps" | "batch">,
  secondsPerStep = 1,
): WorkTerms {
  if (!Number.isInteger(secondsPerStep) || secondsPerStep < 1 || secondsPerStep > 86_400) {
    throw new RangeError(
      "Cannot build work terms: secondsPerStep must be an integer in [1, 86400]",
    );
  }
  return {
    stepsPerRound: spec.localSteps,
    samplesPerStep: spec.batch.B * spec.batch.accumSteps,
    secondsPerStep,
  };
}
