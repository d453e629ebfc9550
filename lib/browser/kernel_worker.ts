/**
 * The Web Worker a page trains in, so the page stays responsive: it fetches kernel.wasm, checks its
 * digest against the one the page was told, instantiates it and runs tasks posted to it.
 *
 * Messages in: `{ type: "train", wasmUrl, wasmDigest?, task }` (a {@link KernelTask}).
 * Messages out: `{ type: "step", step, loss }` per step, then `{ type: "done", wasmDigest, digests }`
 * or `{ type: "error", message }`.
 *
 * @module
 */
import { createKernel, type Kernel } from "../../kernel/wasm_module.ts";
import { digestHex } from "../crypto/digest.ts";
import { type KernelTask, runKernelTask } from "./kernel_task.ts";

/** A message a page posts to the worker. */
export interface TrainMessage {
  type: "train";
  wasmUrl: string;
  /** keccak256 the wasm bytes must have (refused otherwise). */
  wasmDigest?: string;
  task: KernelTask;
}

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
  onmessage: ((e: MessageEvent<TrainMessage>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = async (e) => {
  const msg = e.data;
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
