/**
 * The validator: recomputes a node's round (or its first `upto` steps) from the round's starting
 * checkpoint with the deterministic kernel and compares digests and revealed chunks. Because a
 * train step is bit-identical everywhere, any mismatch is the node's, never the validator's.
 *
 * @example
 * ```ts
 * import { createTrainer } from "../../kernel/train_step.ts";
 * import { loadKernel } from "../../kernel/wasm_module.ts";
 * import { initWeights, paramLayout } from "../../kernel/params.ts";
 * import { defaultHyper } from "../round/local_training.ts";
 * import { recomputeRound } from "./recompute.ts";
 * import { UNCHECKED_DOMAIN as domain } from "../crypto/domain.ts";
 * const kernel = loadKernel();
 * const hyper = defaultHyper({ kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 }, { B: 2, T: 16 });
 * const global = initWeights(kernel, paramLayout(hyper.model), 1);
 * const data = new TextEncoder().encode("a small shard of text to train on. ".repeat(20));
 * const task = { jobId: `0x${"11".repeat(32)}` as const, round: 0, seed: 3, localSteps: 2, proofEvery: 2, data, hyper, domain };
 * const a = recomputeRound(createTrainer(kernel), global, task);
 * const b = recomputeRound(createTrainer(kernel), global, task);
 * console.assert(a.resultHash === b.resultHash && a.stepDigests.length === 3);
 * ```
 */
import { encodeAbiParameters, type Hex, keccak256 } from "viem";
import type { TrainStepFn } from "../../kernel/train_step.ts";
import { generateNodeKey, type NodeKey } from "../crypto/keys.ts";
import {
  f32Bytes,
  type LocalResult,
  type LocalTask,
  trainLocal,
  trainLocalYielding,
} from "../round/local_training.ts";
import { bytesToHex } from "../crypto/digest.ts";
import { MERKLE_CHUNK_SIZE } from "../crypto/merkle.ts";
import { treeDepth } from "./chunk_openings.ts";

let validatorKey: NodeKey | undefined;

/** keccak256(abi.encode(loss, gradient, weights)), as ProofOfCompute.resultHash. */
export function resultHashOf(lossDigest: Hex, gradientDigest: Hex, weightsDigest: Hex): Hex {
  const b = { type: "bytes32" } as const;
  return keccak256(encodeAbiParameters([b, b, b], [lossDigest, gradientDigest, weightsDigest]));
}

/** What an honest node must have committed for a task. */
export interface Recomputed {
  lossDigest: Hex;
  gradientDigest: Hex;
  weightsDigest: Hex;
  resultHash: Hex;
  /** The update bytes the gradient digest is over (the encoded payload, or f32 delta). */
  updateBytes: Uint8Array;
  /** s_0..s_N. */
  stepDigests: Hex[];
  /** Per-step records, the leaves of lossDigest (lib/round/local_training.ts stepRecord). */
  stepRecords: Uint8Array;
}

/** Recomputes a whole round of `task` from `global`. */
export function recomputeRound(
  trainer: { trainStep: TrainStepFn },
  global: Float32Array,
  task: LocalTask,
  options: { encode?: (delta: Float32Array) => Uint8Array } = {},
): Recomputed {
  validatorKey ??= generateNodeKey();
  const r = trainLocal(trainer, global, task, validatorKey, {
    encode: options.encode,
    recordSteps: true,
  });
  return recomputedOf(r);
}

/**
 * {@link recomputeRound} for a validator whose thread has other duties (its own heartbeats):
 * awaits `between()` between steps, at most every `everyMs` of training. Same result.
 */
export async function recomputeRoundYielding(
  trainer: { trainStep: TrainStepFn },
  global: Float32Array,
  task: LocalTask,
  options: {
    encode?: (delta: Float32Array) => Uint8Array;
    between: () => Promise<void>;
    everyMs: number;
  },
): Promise<Recomputed> {
  validatorKey ??= generateNodeKey();
  const r = await trainLocalYielding(trainer, global, task, validatorKey, {
    ...options,
    recordSteps: true,
  });
  return recomputedOf(r);
}

function recomputedOf(r: LocalResult): Recomputed {
  return {
    lossDigest: r.lossDigest,
    gradientDigest: r.gradientDigest,
    weightsDigest: r.weightsDigest,
    resultHash: resultHashOf(r.lossDigest, r.gradientDigest, r.weightsDigest),
    updateBytes: r.payload ?? f32Bytes(r.delta),
    stepDigests: r.stepDigests!,
    stepRecords: r.stepRecords,
  };
}

/** A chunk a node revealed on chain (VerificationManager.ChunkRevealed). */
export interface RevealedChunk {
  chunkIndex: number;
  chunk: Hex;
}

/**
 * Which revealed chunks differ from the recomputed update bytes (padding openings must be empty).
 * An empty list means the node's openings are the honest update. An index past the honest tree's
 * width is wrong whatever it opens: only a deeper tree than the honest update's has it (found in
 * the verification audit: a commit to an over-deep all-padding tree answered every challenge
 * with empty chunks, which the padding rule called honest).
 */
export function wrongChunks(
  expected: Uint8Array,
  revealed: RevealedChunk[],
  chunkSize: number = MERKLE_CHUNK_SIZE,
): number[] {
  const width = 2 ** treeDepth(expected.length, chunkSize);
  const wrong: number[] = [];
  for (const r of revealed) {
    const start = r.chunkIndex * chunkSize;
    const want = start < expected.length
      ? bytesToHex(expected.subarray(start, start + chunkSize))
      : "0x";
    if (r.chunkIndex >= width || want !== r.chunk.toLowerCase()) wrong.push(r.chunkIndex);
  }
  return wrong;
}
