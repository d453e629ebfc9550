/**
 * The Web Worker a page trains in, so the page stays responsive: it fetches kernel.wasm, checks its
 * digest against the one the page was told, instantiates it and runs tasks posted to it.
 *
 * Once loaded it posts `{ type: "ready" }`; post nothing before (lib/browser/open_kernel_worker.ts
 * says why). Messages in: `{ type: "train", wasmUrl, wasmDigest?, task }` (a {@link KernelTask}).
 * Messages out: `{ type: "step", step, loss }` per step, then `{ type: "done", wasmDigest, digests }`
 * or `{ type: "error", message }`.
 *
 * A tab that works for a job posts a {@link JobMessage} with an `id`: `trainTask` (the Worker's own
 * training step, lib/worker/train.ts trainInputs, on inputs the page fetched and re-hashed),
 * `recomputeTask` (a committee member's recomputation, lib/worker/validate.ts recomputeInputs) or
 * `clusterTask` (a cluster aggregator's exact mean, lib/worker/cluster.ts clusterMeanOf, on the
 * members' update bytes). Out: `{ type: "taskStep", id, step, steps, loss }` per training step,
 * then `{ type: "result", id, result }` or `{ type: "error", id, message }`.
 *
 * @module
 */
import { createKernel, type Kernel } from "../../kernel/wasm_module.ts";
import { digestHex } from "../crypto/digest.ts";
import { type KernelTask, runKernelTask } from "./kernel_task.ts";
import { KERNEL_READY } from "./open_kernel_worker.ts";
import { createTrainer } from "../../kernel/train_step.ts";
import { nodeKeyFromSecret } from "../crypto/keys.ts";
import type { ArthaDomain } from "../crypto/domain.ts";
import { type TaskInputs, type Trainer, trainInputs } from "../worker/train.ts";
import { recomputeInputs, type ValidationInputs } from "../worker/validate.ts";
import { clusterMeanOf } from "../worker/cluster.ts";
import { type JobSpec, roundHyper } from "../job/job_spec.ts";
import { fitsWasmMemory, MAX_STEP_LINEAR_BYTES } from "../job/planner.ts";
import { planStepMemory } from "../../kernel/memory_plan.ts";
import type { ClusterTask, TrainTask, ValidationTask } from "../worker/task.ts";
// The aggregation kernels read this URL synchronously (node:fs is lib/browser/_node_fs.ts here).
import { AGGREGATE_WASM_URL } from "../strategy/fixed_point_sum.ts";
import { provideFile } from "./_node_fs.ts";

/** A message a page posts to the worker. */
export interface TrainMessage {
  type: "train";
  wasmUrl: string;
  /** keccak256 the wasm bytes must have (refused otherwise). */
  wasmDigest?: string;
  task: KernelTask;
}

/** Where the Web Worker fetches kernel.wasm, for the job messages that run the kernel. */
interface KernelSource {
  wasmUrl: string;
  /** keccak256 the wasm bytes must have (refused otherwise). */
  wasmDigest?: string;
}

/** A job's task for the Web Worker to train (inputs already fetched and checked by the page). */
export interface TrainTaskMessage extends KernelSource {
  type: "trainTask";
  /** Echoed in the replies. */
  id: number;
  /** The node key's 32-byte seed: the proofs are signed here, where they are made. */
  nodeSecret: Uint8Array;
  domain: ArthaDomain;
  task: TrainTask;
  inputs: TaskInputs;
}

/** A committee member's recomputation of a target's round (inputs fetched by the page). */
export interface RecomputeTaskMessage extends KernelSource {
  type: "recomputeTask";
  id: number;
  task: ValidationTask;
  inputs: ValidationInputs;
}

/** A cluster aggregator's mean over its members' update bytes (fetched by the page). */
export interface ClusterTaskMessage {
  type: "clusterTask";
  id: number;
  /** Where the Web Worker fetches aggregate.wasm (GET /join/aggregate.wasm). */
  aggregateWasmUrl: string;
  task: ClusterTask;
  spec: JobSpec;
  /** Update bytes by CID, every member's. */
  updates: Map<string, Uint8Array>;
}

/** What a tab working for a job posts; each is answered by `result` or `error` with its id. */
export type JobMessage = TrainTaskMessage | RecomputeTaskMessage | ClusterTaskMessage;

const trainers = new Map<string, Trainer>();

const kernels = new Map<string, { kernel: Kernel; digest: string }>();

async function kernelAt(
  url: string,
  expected?: string,
): Promise<{ kernel: Kernel; digest: string }> {
  const known = kernels.get(url);
  if (known) return known;
  const bytes = await fetchBytes(url);
  const digest = digestHex(bytes);
  if (expected && digest !== expected) {
    throw new Error(`Cannot load kernel: digest ${digest}, expected ${expected}`);
  }
  const loaded = { kernel: createKernel(bytes), digest };
  kernels.set(url, loaded);
  return loaded;
}

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<TrainMessage | JobMessage>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

scope.onmessage = async (e) => {
  const msg = e.data;
  if (msg?.type === "train") return await trainTinyTask(msg);
  if (msg?.type === "trainTask" || msg?.type === "recomputeTask" || msg?.type === "clusterTask") {
    return await runJobMessage(msg);
  }
};

// The last top-level statement: the module, its top-level await included, has run and
// `onmessage` is set, so what the page posts from now on is received.
scope.postMessage({ type: KERNEL_READY });

/** The check page's tiny task: its steps, then the digests. */
async function trainTinyTask(msg: TrainMessage): Promise<void> {
  try {
    const { kernel, digest } = await kernelAt(msg.wasmUrl, msg.wasmDigest);
    // The check's trainer is made for this task alone: its workspace is freed with it, so it
    // stays no longer above the job trainer's, which could then no longer free its own.
    const mark = kernel.mark();
    let digests;
    try {
      digests = runKernelTask(kernel, msg.task, {
        onStep: (step, loss) => scope.postMessage({ type: "step", step, loss }),
      });
    } finally {
      kernel.release(mark);
    }
    scope.postMessage({ type: "done", wasmDigest: digest, digests });
  } catch (err) {
    scope.postMessage({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }
}

/** Runs a job message and answers with its id. */
async function runJobMessage(msg: JobMessage): Promise<void> {
  const { id } = msg;
  try {
    if (msg.type !== "clusterTask") checkStepFits(msg.inputs.spec, msg.task.round);
    const result = msg.type === "trainTask"
      ? await trainJobTask(msg)
      : msg.type === "recomputeTask"
      ? recomputeInputs(await trainerAt(msg), msg.task, msg.inputs)
      : await clusterJobTask(msg);
    scope.postMessage({ type: "result", id, result });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // The name says what kind of failure it was (a NonFiniteUpdateError ends the round for the
    // node), which the class does not carry across the message.
    const name = err instanceof Error ? err.name : "Error";
    scope.postMessage({ type: "error", id, message, name });
  }
}

/**
 * Throws unless a step of `spec` fits this tab's kernel. A tab trains with the resident step
 * (createTrainer), whose whole workspace, weights and optimiser state included, lives in one
 * 32-bit WASM memory. Found in the kernel audit: a tiny model with a batch of 32,768 x 64 passed
 * every check, then grew the tab's memory until memory.grow failed, and the kernel, its bump
 * pointer left past the end, failed every later task until the tab was reloaded.
 */
function checkStepFits(spec: JobSpec, round: number): void {
  const plan = planStepMemory(roundHyper(spec, round));
  if (fitsWasmMemory(plan)) return;
  const gib = (b: number) => (b / 2 ** 30).toFixed(2);
  throw new RangeError(
    `Cannot train in this tab: a step of this job needs ${gib(plan.linearBytes)} GiB of WASM ` +
      `memory, more than the ${gib(MAX_STEP_LINEAR_BYTES)} GiB a tab's kernel can give it`,
  );
}

/** The trainer of the kernel at `source.wasmUrl`, made once. */
async function trainerAt(source: KernelSource): Promise<Trainer> {
  const { kernel } = await kernelAt(source.wasmUrl, source.wasmDigest);
  let trainer = trainers.get(source.wasmUrl);
  if (!trainer) trainers.set(source.wasmUrl, trainer = createTrainer(kernel));
  return trainer;
}

async function trainJobTask(msg: TrainTaskMessage) {
  const { id } = msg;
  return trainInputs(
    {
      trainer: await trainerAt(msg),
      key: nodeKeyFromSecret(msg.nodeSecret),
      domain: msg.domain,
      onStep: (p) => scope.postMessage({ type: "taskStep", id, ...p }),
    },
    msg.task,
    msg.inputs,
  );
}

let aggregateWasm: Promise<void> | undefined;

async function clusterJobTask(msg: ClusterTaskMessage) {
  aggregateWasm ??= fetchBytes(msg.aggregateWasmUrl).then(
    (bytes) => provideFile(AGGREGATE_WASM_URL, bytes),
    (e) => {
      aggregateWasm = undefined;
      throw e;
    },
  );
  await aggregateWasm;
  return await clusterMeanOf(msg.updates, msg.task, msg.spec);
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`Cannot fetch ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
