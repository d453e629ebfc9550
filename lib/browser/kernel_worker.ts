/**
 * The Web Worker a page trains in, so the page stays responsive: it fetches kernel.wasm, checks its
 * digest against the one the page was told, instantiates it and runs tasks posted to it.
 *
 * Messages in: `{ type: "train", wasmUrl, wasmDigest?, task }` (a {@link KernelTask}).
 * Messages out: `{ type: "step", step, loss }` per step, then `{ type: "done", wasmDigest, digests }`
 * or `{ type: "error", message }`.
 *
 * A tab that works for a job posts `{ type: "trainTask", id, wasmUrl, nodeSecret, domain, task,
 * inputs }` ({@link TrainTaskMessage}): the Worker's own training step (lib/worker/train.ts
 * trainInputs) on inputs the page fetched and re-hashed. Out: `{ type: "taskStep", id, step,
 * steps, loss }` per step, then `{ type: "trained", id, trained }` or `{ type: "error", id,
 * message }`.
 *
 * @module
 */
import { createKernel, type Kernel } from "../../kernel/wasm_module.ts";
import { digestHex } from "../crypto/digest.ts";
import { type KernelTask, runKernelTask } from "./kernel_task.ts";
import { createTrainer } from "../../kernel/train_step.ts";
import { nodeKeyFromSecret } from "../crypto/keys.ts";
import type { ArthaDomain } from "../crypto/domain.ts";
import { type TaskInputs, type Trainer, trainInputs } from "../worker/train.ts";
import type { TrainTask } from "../worker/task.ts";

/** A message a page posts to the worker. */
export interface TrainMessage {
  type: "train";
  wasmUrl: string;
  /** keccak256 the wasm bytes must have (refused otherwise). */
  wasmDigest?: string;
  task: KernelTask;
}

/** A job's task for the Web Worker to train (inputs already fetched and checked by the page). */
export interface TrainTaskMessage {
  type: "trainTask";
  /** Echoed in the replies. */
  id: number;
  wasmUrl: string;
  wasmDigest?: string;
  /** The node key's 32-byte seed: the proofs are signed here, where they are made. */
  nodeSecret: Uint8Array;
  domain: ArthaDomain;
  task: TrainTask;
  inputs: TaskInputs;
}

const trainers = new Map<string, Trainer>();

const kernels = new Map<string, { kernel: Kernel; digest: string }>();

async function kernelAt(
  url: string,
  expected?: string,
): Promise<{ kernel: Kernel; digest: string }> {
  const known = kernels.get(url);
  if (known) return known;
  const res = await fetch(url);
  if (!res.ok) throw new Error(`Cannot fetch kernel ${url}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const digest = digestHex(bytes);
  if (expected && digest !== expected) {
    throw new Error(`Cannot load kernel: digest ${digest}, expected ${expected}`);
  }
  const loaded = { kernel: createKernel(bytes), digest };
  kernels.set(url, loaded);
  return loaded;
}

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<TrainMessage | TrainTaskMessage>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = async (e) => {
  const msg = e.data;
  if (msg?.type === "trainTask") return await trainJobTask(msg);
  if (msg?.type !== "train") return;
  try {
    const { kernel, digest } = await kernelAt(msg.wasmUrl, msg.wasmDigest);
    const digests = runKernelTask(kernel, msg.task, {
      onStep: (step, loss) => scope.postMessage({ type: "step", step, loss }),
    });
    scope.postMessage({ type: "done", wasmDigest: digest, digests });
  } catch (err) {
    scope.postMessage({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }
};

async function trainJobTask(msg: TrainTaskMessage): Promise<void> {
  const { id } = msg;
  try {
    const { kernel } = await kernelAt(msg.wasmUrl, msg.wasmDigest);
    let trainer = trainers.get(msg.wasmUrl);
    if (!trainer) trainers.set(msg.wasmUrl, trainer = createTrainer(kernel));
    const trained = trainInputs(
      {
        trainer,
        key: nodeKeyFromSecret(msg.nodeSecret),
        domain: msg.domain,
        onStep: (p) => scope.postMessage({ type: "taskStep", id, ...p }),
      },
      msg.task,
      msg.inputs,
    );
    scope.postMessage({ type: "trained", id, trained });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    scope.postMessage({ type: "error", id, message });
  }
}
