/**
 * One local-training task run the same way on every host, reduced to the digests that must match
 * byte for byte: the Deno worker, a validator and a browser tab running the same kernel.wasm bytes
 * on the same (weights, task, key) produce the same losses, gradient, weights and proofs.
 *
 * The node key and the proof timestamps are fixed by the task, so nothing in the digests depends on
 * the host, its clock or its random numbers.
 *
 * @example
 * ```ts
 * import { createKernel } from "../../kernel/wasm_module.ts";
 * import { runKernelTask, tinyKernelTask } from "./kernel_task.ts";
 * const bytes = await Deno.readFile(new URL("../../kernel/wasm/build/kernel.wasm", import.meta.url));
 * const r = runKernelTask(createKernel(bytes), tinyKernelTask({ localSteps: 1 }));
 * console.assert(r.steps === 1 && r.proofsRoot.startsWith("0x"));
 * ```
 */
import type { Hex } from "viem";
import { createTrainer } from "../../kernel/train_step.ts";
import { initWeights, paramLayout } from "../../kernel/params.ts";
import type { Kernel } from "../../kernel/wasm_module.ts";
import { bytesToHex, digestHex, hexToBytes } from "../crypto/digest.ts";
import { nodeKeyFromSecret } from "../crypto/keys.ts";
import { defaultHyper, f32Bytes, trainLocal } from "../round/local_training.ts";
import type { KernelTask } from "./tiny_task.ts";

export { type KernelTask, tinyKernelTask } from "./tiny_task.ts";

/** What must be byte-identical across hosts, as hex; plus timing that is not. */
export interface KernelTaskDigests {
  steps: number;
  /** Every step's loss as little-endian f32 bytes. */
  losses: Hex;
  /** keccak256 of the local update (f32 delta bytes). */
  delta: Hex;
  lossDigest: Hex;
  gradientDigest: Hex;
  weightsDigest: Hex;
  proofsRoot: Hex;
  /** The signed proofs' signatures, in order. */
  signatures: Hex[];
  /** Not compared: tokens trained per second on this host. */
  tokensPerSecond: number;
}

/** Runs `task` on `kernel`; `onStep` sees each step's loss. */
export function runKernelTask(
  kernel: Kernel,
  task: KernelTask,
  options: { onStep?: (step: number, loss: number) => void } = {},
): KernelTaskDigests {
  const hyper = defaultHyper(task.model, { B: task.B, T: task.T });
  const global = initWeights(kernel, paramLayout(task.model), task.initSeed);
  const key = nodeKeyFromSecret(hexToBytes(task.nodeSecret));
  const started = performance.now();
  const r = trainLocal(
    createTrainer(kernel),
    global,
    {
      jobId: task.jobId,
      round: task.round,
      seed: task.seed,
      localSteps: task.localSteps,
      proofEvery: task.proofEvery,
      data: new TextEncoder().encode(task.text),
      hyper,
      domain: { chainId: task.chainId, verifyingContract: task.verifyingContract },
    },
    key,
    { now: () => BigInt(task.timestamp), onStep: options.onStep },
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    steps: r.steps,
    losses: bytesToHex(f32Bytes(r.losses)),
    delta: digestHex(f32Bytes(r.delta)),
    lossDigest: r.lossDigest,
    gradientDigest: r.gradientDigest,
    weightsDigest: r.weightsDigest,
    proofsRoot: r.proofsRoot,
    signatures: r.proofs.map((p) => p.signature),
    tokensPerSecond: (task.localSteps * task.B * task.T) / Math.max(seconds, 1e-9),
  };
}
