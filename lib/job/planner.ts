/**
 * Model-size planner: memory and per-round traffic of a data-parallel job on one laptop, and
 * whether a node can take it (design doc, "Splitting Model Across 1000 Laptops", "Maximum
 * Model Size for Distributed Laptops", "Bandwidth Requirements for Nodes").
 *
 * Units: bytes, and decimal GB (1 GB = 1e9 bytes) as in the design doc: 1B params in fp32 =
 * 4 GB of weights, and a round moves ~8 GB (download weights + upload an update of the same
 * size, uncompressed).
 *
 * Memory = params + grads (one copy each, `dtypeBytes`) + optimizer state (AdamW 2 copies,
 * SGD-momentum 1, SGD 0, `stateBytes`, default = dtypeBytes) + activations.
 * Activations for a GPT follow llm.c's `train_gpt2.c` buffer list (the kernel's model):
 * per layer `18·B·T·C + 2·B·H·T² + 4·B·T` values (ln1, qkv, atty, attproj, residual2, ln2,
 * fch, fch_gelu, fcproj, residual3 = 18 C; preatt and att = 2 H T; 4 mean/rstd), plus
 * `2·B·T·C + 2·B·T·V + 3·B·T` outside the layers (encoded, lnf, logits, probs, lnf stats,
 * losses); doubled for their gradients (llm.c keeps grads_acts the same size), no
 * recomputation.
 *
 * @example
 * ```ts
 * import { fitsNode, planModel } from "./planner.ts";
 * const plan = planModel({ params: 1e9 }, { dtypeBytes: 4 });
 * console.log(plan.memory.params / 1e9, plan.traffic.perRound / 1e9); // 4 8
 * console.log(fitsNode(plan, { diskGB: 100, bandwidthMbps: 100, computeUnits: 8 }).fits); // true
 * ```
 *
 * @module
 */
import { type MemoryPlan, planStepMemory } from "../../kernel/memory_plan.ts";
import type { Hyper } from "../../kernel/train_step.ts";

/** A GPT-2 style decoder (llm.c layout: tied embeddings, biases, 4x MLP). */
export interface GptConfig {
  layers: number;
  /** Model width C (d_model). */
  width: number;
  heads: number;
  /** Context length T. */
  context: number;
  vocab: number;
}

/** What to plan for: a parameter count, or a GPT config (params and activations). */
export type ModelSpec = { params: number } | { gpt: GptConfig };

/** Optimizers and their extra state copies per parameter. */
export const OPTIMIZER_STATES = { adamw: 2, "sgd-momentum": 1, sgd: 0 } as const;
export type OptimizerName = keyof typeof OPTIMIZER_STATES;

/** Training settings for a plan. */
export interface PlanOptions {
  /** Micro-batch size B (activations scale with it; default 1). */
  batchSize?: number;
  /** Bytes per weight/grad/activation value (4 fp32, 2 fp16/bf16; default 4). */
  dtypeBytes?: number;
  /** Bytes per optimizer-state value (default dtypeBytes). */
  stateBytes?: number;
  /** Default "adamw". */
  optimizer?: OptimizerName;
  /** Uploaded update size / raw size (0.01 = top-1%; default 1 = uncompressed). */
  compressionRatio?: number;
  /**
   * Plan the kernel's large-model step (kernel/offload.ts): activations recomputed layer by
   * layer and parameters streamed through a one-layer window ({@link gptRecomputeActivationCount}).
   */
  recompute?: boolean;
  /** Kernel threads (each has its own GEMM packing scratch; default 1). */
  threads?: number;
}

/** Bytes of everything a node holds and moves. */
export interface Plan {
  params: number;
  memory: {
    params: number;
    grads: number;
    optimizer: number;
    /** 0 when only a parameter count was given. */
    activations: number;
    total: number;
  };
  traffic: { download: number; upload: number; perRound: number };
  /** Disk for weights + optimizer state + one update (to resume after a crash). */
  disk: number;
}

/** Capabilities of a node (caps word fields, plus RAM when known). */
export interface NodeCaps {
  diskGB: number;
  bandwidthMbps: number;
  computeUnits: number;
  memoryGB?: number;
}

/** Requirements beyond the plan itself. */
export interface FitOptions {
  /** Round length in seconds; transfers must fit in `transferShare` of it (default 3600). */
  roundSeconds?: number;
  /** Share of a round that may go to transfers (default 0.5). */
  transferShare?: number;
  /** Fewest compute units (default 1). */
  minComputeUnits?: number;
}

/** The verdict, with one reason per failed check. */
export interface Fit {
  fits: boolean;
  reasons: string[];
  /** Seconds to download and upload one round at bandwidthMbps (sequential). */
  transferSeconds: number;
}

export const GB = 1e9;

/** Parameter count of a GPT: V·C + T·C + L·(12C² + 13C) + 2C. GPT-2 small: 124,439,808. */
export function gptParamCount(cfg: GptConfig): number {
  const { layers: L, width: C, context: T, vocab: V } = cfg;
  return V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C;
}

/** Activation values of one forward pass (llm.c buffer list; see the module doc). */
export function gptActivationCount(cfg: GptConfig, batchSize: number): number {
  const { layers: L, width: C, heads: H, context: T, vocab: V } = cfg;
  const B = batchSize;
  const perLayer = 18 * B * T * C + 2 * B * H * T * T + 4 * B * T;
  return L * perLayer + 2 * B * T * C + 2 * B * T * V + 3 * B * T;
}

/**
 * Activation-side values of one step with recomputation and layer offload (kernel/network.ts,
 * kernel/memory_plan.ts): the layer outputs kept, one layer's activations and their gradients,
 * the head, the resident parameter window and per-thread GEMM scratch. Within 0.4% of the
 * kernel's own `planStepMemory`, itself within 1.5% of the measured peak (bench:kernel --ladder).
 *
 * @example
 * ```ts
 * import { gptActivationCount, gptRecomputeActivationCount } from "./planner.ts";
 * const gpt2 = { layers: 12, width: 768, heads: 12, context: 1024, vocab: 256 };
 * console.assert(gptRecomputeActivationCount(gpt2, 1) < gptActivationCount(gpt2, 1));
 * ```
 */
export function gptRecomputeActivationCount(
  cfg: GptConfig,
  batchSize: number,
  threads = 1,
): number {
  const { layers: L, width: C, heads: H, context: T, vocab: V } = cfg;
  const BT = batchSize * T;
  const layer = 17 * BT * C + batchSize * H * T * T + 4 * BT; // one layer's activations
  const layerGrads = 17 * BT * C; // one layer's activation gradients
  const head = 6 * BT * C + 3 * BT * V + 5 * BT; // embeddings out, lnf, logits, probs, grads
  const window = 2 * (12 * C * C + 13 * C) + 2 * (V * C + T * C + 2 * C); // layer + resident
  const scratch = threads * (Math.max(4 * C, V) + 8) * (BT + 8); // GEMM packing per thread
  return L * BT * C + layer + layerGrads + head + window + scratch;
}

/** The staging chunks of the offloaded step's norm and AdamW passes (kernel/offload.ts). */
const OFFLOAD_STAGING_BYTES = 64 * 2 ** 20;

/** Memory, traffic and disk of training `spec` with `options` on one node. */
export function planModel(spec: ModelSpec, options: PlanOptions = {}): Plan {
  const dtype = options.dtypeBytes ?? 4;
  const stateBytes = options.stateBytes ?? dtype;
  const batch = options.batchSize ?? 1;
  const optimizer = options.optimizer ?? "adamw";
  const ratio = options.compressionRatio ?? 1;
  if (!(ratio > 0 && ratio <= 1)) {
    throw new RangeError(`Cannot plan: compressionRatio ${ratio} not in (0, 1]`);
  }
  if (!(optimizer in OPTIMIZER_STATES)) {
    throw new RangeError(`Cannot plan: unknown optimizer ${optimizer}`);
  }
  const params = "params" in spec ? spec.params : gptParamCount(spec.gpt);
  if (!(params > 0)) throw new RangeError(`Cannot plan: params ${params} not positive`);
  const activations = !("gpt" in spec)
    ? 0
    : options.recompute
    ? gptRecomputeActivationCount(spec.gpt, batch, options.threads ?? 1) * dtype +
      OFFLOAD_STAGING_BYTES
    : 2 * gptActivationCount(spec.gpt, batch) * dtype;
  const weights = params * dtype;
  const opt = params * OPTIMIZER_STATES[optimizer] * stateBytes;
  const upload = Math.ceil(weights * ratio);
  return {
    params,
    memory: {
      params: weights,
      grads: weights,
      optimizer: opt,
      activations,
      total: 2 * weights + opt + activations,
    },
    traffic: { download: weights, upload, perRound: weights + upload },
    disk: weights + opt + upload,
  };
}

/**
 * Bytes a node moves per 30-day month at `roundsPerDay` (the table of design doc, "Bandwidth
 * Requirements for Nodes").
 */
export function monthlyTraffic(plan: Plan, roundsPerDay: number): number {
  return plan.traffic.perRound * roundsPerDay * 30;
}

/** Whether a node can take the plan; `reasons` says what does not fit. */
export function fitsNode(plan: Plan, caps: NodeCaps, options: FitOptions = {}): Fit {
  const reasons: string[] = [];
  const round = options.roundSeconds ?? 3600;
  const share = options.transferShare ?? 0.5;
  const minCu = options.minComputeUnits ?? 1;
  const gb = (b: number) => (b / GB).toFixed(2);
  if (plan.disk > caps.diskGB * GB) {
    reasons.push(`disk: needs ${gb(plan.disk)} GB, has ${caps.diskGB} GB`);
  }
  if (caps.memoryGB !== undefined && plan.memory.total > caps.memoryGB * GB) {
    reasons.push(`memory: needs ${gb(plan.memory.total)} GB, has ${caps.memoryGB} GB`);
  }
  const transferSeconds = caps.bandwidthMbps > 0
    ? (plan.traffic.perRound * 8) / (caps.bandwidthMbps * 1e6)
    : Infinity;
  if (transferSeconds > round * share) {
    reasons.push(
      `bandwidth: a round's ${gb(plan.traffic.perRound)} GB takes ${
        Math.round(transferSeconds)
      } s at ${caps.bandwidthMbps} Mbps, over ${Math.round(round * share)} s`,
    );
  }
  if (caps.computeUnits < minCu) {
    reasons.push(`compute: ${caps.computeUnits} units < ${minCu}`);
  }
  return { fits: reasons.length === 0, reasons, transferSeconds };
}

/**
 * Bytes of WASM linear memory a resident training step may take before a worker trains with the
 * offload trainer instead (kernel/offload.ts). A 32-bit memory ends at 4 GiB; the last GiB is left
 * for growth (memory.grow doubles nothing, but a failed grow fails the step) and for the
 * evaluation workspace the same kernel may hold beside the step's.
 */
export const RESIDENT_STEP_BUDGET = 3 * 2 ** 30;

/** Bytes of a 32-bit WASM memory: 65,536 pages of 64 KiB, the most memory.grow reaches. */
export const WASM_MEMORY_BYTES = 4 * 2 ** 30;

/**
 * Most bytes of linear memory one step's workspace may take, whichever trainer runs it: a 32-bit
 * memory less 256 MiB for the module's own data and stack and what the kernel allocates beside a
 * step (initWeights' one-tensor buffer, the tiny check task of a browser tab). The offload trainer
 * keeps weights, gradient and optimiser state outside, but its window, activations, GEMM scratch
 * and staging are inside, so a large enough batch exceeds this with either trainer. Found in the
 * kernel audit: such a step passed every check against the machine's RAM, then failed on
 * memory.grow at every retry.
 */
export const MAX_STEP_LINEAR_BYTES = WASM_MEMORY_BYTES - 2 ** 28;

/**
 * Whether the workspace `plan` describes fits a 32-bit WASM memory ({@link MAX_STEP_LINEAR_BYTES}).
 *
 * @example
 * ```ts
 * import { chooseTrainer, fitsWasmMemory } from "./planner.ts";
 * import { defaultHyper } from "../round/local_training.ts";
 * const tiny = { kind: "gpt" as const, maxT: 64, layers: 1, heads: 1, width: 4 };
 * const fits = (B: number) => {
 *   const choice = chooseTrainer(defaultHyper(tiny, { B, T: 64 }));
 *   return fitsWasmMemory(choice[choice.kind]);
 * };
 * console.assert(fits(8) && !fits(32_768));
 * ```
 */
export function fitsWasmMemory(plan: MemoryPlan): boolean {
  return plan.linearBytes <= MAX_STEP_LINEAR_BYTES;
}

/** Which kernel trainer a step of `hyper` takes, and the plans behind the choice. */
export interface TrainerChoice {
  kind: "resident" | "offload";
  resident: MemoryPlan;
  offload: MemoryPlan;
}

/**
 * The resident trainer (kernel/train_step.ts: weights, gradient and AdamW state in linear
 * memory) when its workspace fits `budget` bytes, else the offload trainer (state in host
 * arrays, layers streamed). Both give the same bytes, so the choice changes memory and speed
 * only, never a digest.
 *
 * @example
 * ```ts
 * import { chooseTrainer } from "./planner.ts";
 * import { defaultHyper } from "../round/local_training.ts";
 * const gpt2 = { kind: "gpt" as const, maxT: 64, layers: 12, heads: 12, width: 768 };
 * const hyper = defaultHyper(gpt2, { B: 1 });
 * console.assert(chooseTrainer(hyper, { budget: 2 ** 30 }).kind === "offload");
 * ```
 */
export function chooseTrainer(
  hyper: Hyper,
  options: { budget?: number; threads?: number } = {},
): TrainerChoice {
  const threads = options.threads ?? 1;
  const resident = planStepMemory(hyper, { threads });
  const offload = planStepMemory(hyper, { threads, offload: true });
  const fits = resident.linearBytes <= (options.budget ?? RESIDENT_STEP_BUDGET);
  return { kind: fits ? "resident" : "offload", resident, offload };
}
