/**
 * One node's work for one round, as a pure function of (global weights, task): local steps of
 * the kernel's train step on the node's shard, per-step signed TrainProofs every `proofEvery`
 * steps, and the round commitment (digests of losses, update and final weights). Because the
 * kernel is bit-identical everywhere, a validator or a redundant node re-running the same task
 * gets the same digests; that is what redundancy, challenges and spot checks compare.
 *
 * @example
 * ```ts
 * import { createTrainer } from "../../kernel/train_step.ts";
 * import { loadKernel } from "../../kernel/wasm_module.ts";
 * import { initWeights, paramLayout } from "../../kernel/params.ts";
 * import { generateNodeKey } from "../crypto/keys.ts";
 * import { defaultHyper, trainLocal } from "./local_training.ts";
 * const kernel = loadKernel();
 * const hyper = defaultHyper({ kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 }, { B: 2, T: 16 });
 * const weights = initWeights(kernel, paramLayout(hyper.model), 1);
 * const key = generateNodeKey();
 * const data = new TextEncoder().encode("the quick brown fox jumps over the lazy dog. ".repeat(20));
 * const r = trainLocal(createTrainer(kernel), weights, {
 *   jobId: `0x${"11".repeat(32)}`, round: 0, seed: 7, localSteps: 2, proofEvery: 1, data, hyper,
 *   domain: { chainId: 31337, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" },
 * }, key);
 * console.assert(r.proofs.length === 2 && r.steps === 2);
 * ```
 */
import type { Hex } from "viem";
import type { Hyper, TrainStepFn } from "../../kernel/train_step.ts";
import type { ModelConfig } from "../../kernel/params.ts";
import { DEFAULT_ADAMW, initOptState } from "../../kernel/optimizer.ts";
import { sampleBatch } from "../../kernel/data.ts";
import { CANONICAL_NAN_BITS, canonicalF32Bytes, canonicalizeNaN } from "../../kernel/digest.ts";
import { digestHex, hexToBytes } from "../crypto/digest.ts";
import { merkleRoot } from "../crypto/merkle.ts";
import type { NodeKey } from "../crypto/keys.ts";
import { proofsRoot, type SignedTrainProof, signTrainProof } from "./train_proof.ts";
import type { ArthaDomain } from "../crypto/domain.ts";

/** What a node is asked to compute in a round. */
export interface LocalTask {
  jobId: Hex;
  /** Where the round's TrainProofs count: the deployment's ProofOfCompute on its chain. */
  domain: ArthaDomain;
  round: number;
  /** Seed of the task's batch sampling: redundant nodes of one task share it. */
  seed: number;
  localSteps: number;
  /** Sign a TrainProof every this many steps (and always at the last step). */
  proofEvery: number;
  /** The shard's training bytes. */
  data: Uint8Array;
  /** Hyper-parameters of the local steps (the round's learning rate is in its schedule). */
  hyper: Hyper;
}

export interface LocalResult {
  weights: Float32Array;
  /** weights - global weights: the update sent for aggregation. */
  delta: Float32Array;
  steps: number;
  /** Sequences trained on (B x accumSteps per step). */
  samples: number;
  losses: Float32Array;
  /** Per-step records (STEP_RECORD_BYTES each), the leaves of lossDigest. */
  stepRecords: Uint8Array;
  meanLoss: number;
  /** Merkle root of the per-step records (loss, weights hash, gradient hash per step). */
  lossDigest: Hex;
  /** Merkle root of the update as sent: the encoded payload, or the f32 delta bytes. */
  gradientDigest: Hex;
  /** The encoded update, when an encoder was given. */
  payload?: Uint8Array;
  /** Merkle root of the final local weights. */
  weightsDigest: Hex;
  proofs: SignedTrainProof[];
  proofsRoot: Hex;
  /** Wall-clock compute seconds, rounded up (reward accounting only; not in any digest). */
  gpuSeconds: number;
  /**
   * With `recordSteps`: Merkle roots of the weights before the first step and after every step
   * (s_0..s_N, N + 1 digests), what a dispute bisects over (lib/verify/steps_tree.ts).
   */
  stepDigests?: Hex[];
}

/** Bytes of one step's record: f32 loss, keccak256 of the weights after it, of its gradient. */
export const STEP_RECORD_BYTES = 68;

/**
 * One step's record. The round's lossDigest is the Merkle root of its records (one leaf per step),
 * so a challenge can open any single step with a proof the contract checks, and a validator who
 * recomputes that step compares its loss, weights and gradient hashes. A NaN loss is written as
 * the canonical NaN: DataView may write any NaN pattern, and the kernel's NaN differs by CPU.
 */
export function stepRecord(loss: number, weights: Float32Array, grad: Float32Array): Uint8Array {
  const out = new Uint8Array(STEP_RECORD_BYTES);
  const view = new DataView(out.buffer);
  if (Number.isNaN(loss)) view.setUint32(0, CANONICAL_NAN_BITS, true);
  else view.setFloat32(0, loss, true);
  out.set(hexToBytes(digestHex(f32Bytes(weights))), 4);
  out.set(hexToBytes(digestHex(f32Bytes(grad))), 36);
  return out;
}

/**
 * Bytes of a Float32Array as they are hashed, delivered and opened (little-endian f32, every NaN
 * canonical: kernel/digest.ts). A view when `a` holds no NaN, which is always the case for the
 * arrays of a {@link LocalResult} (canonicalised in place as they are produced).
 */
export function f32Bytes(a: Float32Array): Uint8Array {
  return canonicalF32Bytes(a);
}

/** A reasonable default Hyper for `model`: AdamW, clip 1, constant lr within the round. */
export function defaultHyper(
  model: ModelConfig,
  opts: { B?: number; T?: number; lr?: number; accumSteps?: number } = {},
): Hyper {
  return {
    model,
    B: opts.B ?? 8,
    T: opts.T ?? model.maxT,
    accumSteps: opts.accumSteps ?? 1,
    schedule: { lr: opts.lr ?? 3e-3, warmupSteps: 0, totalSteps: 1, minLrRatio: 1 },
    optimizer: DEFAULT_ADAMW,
    gradClip: 1,
  };
}

/** Options of {@link trainLocal}. */
export interface TrainLocalOptions {
  now?: () => bigint;
  onStep?: (step: number, loss: number) => void;
  /** Encodes the delta for sending (a compression codec); its bytes are what gets digested. */
  encode?: (delta: Float32Array) => Uint8Array;
  /** Record the weights digest of every step (s_0..s_N) for disputes; costs a Merkle root
   * of the weights per step. */
  recordSteps?: boolean;
}

/**
 * Runs a task from `global` weights. The optimizer state starts fresh every round, so the result
 * depends on nothing but (global weights, task): anyone can recompute it.
 */
export function trainLocal(
  trainStep: { trainStep: TrainStepFn },
  global: Float32Array,
  task: LocalTask,
  key: NodeKey,
  options: TrainLocalOptions = {},
): LocalResult {
  checkTask(task);
  const started = performance.now();
  const steps = runLocalSteps(trainStep, global, task, key, options);
  let next = steps.next();
  while (!next.done) next = steps.next();
  return roundResult(global, task, next.value, options, started);
}

/**
 * {@link trainLocal} for a caller whose thread has other duties while it trains (a worker's
 * on-chain heartbeats and challenge answers, due every hour however long the round is): after a
 * step, once `everyMs` have passed since the last pause, it awaits `between()`. Same steps, same
 * bytes: only when the thread gets to run something else differs.
 *
 * @example
 * ```ts
 * import { createTrainer } from "../../kernel/train_step.ts";
 * import { loadKernel } from "../../kernel/wasm_module.ts";
 * import { initWeights, paramLayout } from "../../kernel/params.ts";
 * import { generateNodeKey } from "../crypto/keys.ts";
 * import { defaultHyper, trainLocalYielding } from "./local_training.ts";
 * const kernel = loadKernel();
 * const hyper = defaultHyper({ kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 }, { B: 2, T: 16 });
 * const weights = initWeights(kernel, paramLayout(hyper.model), 1);
 * const data = new TextEncoder().encode("the quick brown fox jumps over the lazy dog. ".repeat(20));
 * let pauses = 0;
 * const r = await trainLocalYielding(createTrainer(kernel), weights, {
 *   jobId: `0x${"11".repeat(32)}`, round: 0, seed: 7, localSteps: 3, proofEvery: 1, data, hyper,
 *   domain: { chainId: 31337, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" },
 * }, generateNodeKey(), { between: async () => { pauses++; }, everyMs: 0 });
 * console.assert(r.steps === 3 && pauses === 3);
 * ```
 */
export async function trainLocalYielding(
  trainStep: { trainStep: TrainStepFn },
  global: Float32Array,
  task: LocalTask,
  key: NodeKey,
  options: TrainLocalOptions & { between: () => Promise<void>; everyMs: number },
): Promise<LocalResult> {
  checkTask(task);
  const started = performance.now();
  const steps = runLocalSteps(trainStep, global, task, key, options);
  let paused = performance.now();
  let next = steps.next();
  while (!next.done) {
    if (performance.now() - paused >= options.everyMs) {
      await options.between();
      paused = performance.now();
    }
    next = steps.next();
  }
  return roundResult(global, task, next.value, options, started);
}

/** The round's result from its trail: the update, its encoding and the commitment's digests. */
function roundResult(
  global: Float32Array,
  task: LocalTask,
  trail: StepTrail,
  options: TrainLocalOptions,
  started: number,
): LocalResult {
  const { weights, losses, stepRecords, proofs, stepDigests } = trail;
  const delta = new Float32Array(global.length);
  for (let i = 0; i < delta.length; i++) delta[i] = weights[i]! - global[i]!;
  canonicalizeNaN(delta); // NaN - x keeps the NaN's CPU-dependent bits
  let lossSum = 0;
  for (const l of losses) lossSum += l;
  const payload = options.encode?.(delta);
  return {
    weights,
    delta,
    steps: task.localSteps,
    samples: task.localSteps * (task.hyper.B * task.hyper.accumSteps),
    losses,
    meanLoss: lossSum / losses.length,
    lossDigest: merkleRoot(stepRecords, STEP_RECORD_BYTES),
    stepRecords,
    gradientDigest: merkleRoot(payload ?? f32Bytes(delta)),
    payload,
    weightsDigest: merkleRoot(f32Bytes(weights)),
    proofs,
    proofsRoot: proofsRoot(proofs, task.domain),
    gpuSeconds: Math.max(1, Math.ceil((performance.now() - started) / 1000)),
    ...(stepDigests ? { stepDigests } : {}),
  };
}

function checkTask(task: LocalTask): void {
  if (!Number.isInteger(task.localSteps) || task.localSteps < 1) {
    throw new RangeError("Cannot train: localSteps must be a positive integer");
  }
  if (!Number.isInteger(task.proofEvery) || task.proofEvery < 1) {
    throw new RangeError("Cannot train: proofEvery must be a positive integer");
  }
}

/** What the local steps leave behind: final weights and the per-step trail. */
interface StepTrail {
  weights: Float32Array;
  losses: Float32Array;
  stepRecords: Uint8Array;
  proofs: SignedTrainProof[];
  stepDigests?: Hex[];
}

/**
 * The task's local steps from `global`, signing a proof every `proofEvery` steps and at the end;
 * yields after each step (its index), so a caller may pause between steps.
 */
function* runLocalSteps(
  trainStep: { trainStep: TrainStepFn },
  global: Float32Array,
  task: LocalTask,
  key: NodeKey,
  options: TrainLocalOptions,
): Generator<number, StepTrail> {
  const now = options.now ?? (() => BigInt(Math.floor(Date.now() / 1000)));
  const { hyper } = task;
  const count = hyper.B * hyper.accumSteps;
  let weights = global;
  let state = initOptState(hyper.optimizer.kind, global.length);
  const losses = new Float32Array(task.localSteps);
  const stepRecords = new Uint8Array(task.localSteps * STEP_RECORD_BYTES);
  const proofs: SignedTrainProof[] = [];
  const stepDigests = options.recordSteps ? [merkleRoot(f32Bytes(global))] : undefined;
  for (let s = 0; s < task.localSteps; s++) {
    const step = task.round * task.localSteps + s;
    const batch = sampleBatch(task.data, count, hyper.T, task.seed, step);
    const r = trainStep.trainStep(weights, state, batch, task.seed, hyper);
    // Found in the verification audit: a job's terms can drive training to NaN, whose bits the
    // CPU picks; canonical in place (fresh arrays), so every digest, proof and delivered byte
    // below agrees across CPU types, and the next step starts from the same bits everywhere.
    canonicalizeNaN(r.weights);
    canonicalizeNaN(r.grad);
    canonicalizeNaN(r.optState.m);
    canonicalizeNaN(r.optState.v);
    weights = r.weights;
    state = r.optState;
    losses[s] = r.loss;
    canonicalizeNaN(losses.subarray(s, s + 1));
    stepRecords.set(stepRecord(r.loss, weights, r.grad), s * STEP_RECORD_BYTES);
    stepDigests?.push(merkleRoot(f32Bytes(weights)));
    options.onStep?.(s, r.loss);
    if ((s + 1) % task.proofEvery === 0 || s === task.localSteps - 1) {
      proofs.push(signStepProof(key, task, step, {
        losses: losses.subarray(0, s + 1),
        grad: r.grad,
        weights,
        now,
      }));
    }
    yield s;
  }
  return { weights, losses, stepRecords, proofs, stepDigests };
}

/** Signs the TrainProof of global step `step`: digests of the losses so far, gradient, weights. */
function signStepProof(
  key: NodeKey,
  task: LocalTask,
  step: number,
  at: { losses: Float32Array; grad: Float32Array; weights: Float32Array; now: () => bigint },
): SignedTrainProof {
  return signTrainProof(key, {
    jobId: task.jobId,
    step: BigInt(step),
    lossDigest: digestHex(f32Bytes(at.losses)),
    gradientDigest: merkleRoot(f32Bytes(at.grad)),
    weightsDigest: merkleRoot(f32Bytes(at.weights)),
    timestamp: at.now(),
    nodePubkey: key.publicKeyHex,
  }, task.domain);
}
