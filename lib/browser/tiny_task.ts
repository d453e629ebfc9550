/**
 * The task a page and Deno both run to show the kernel gives the same bytes: plain JSON, no
 * imports beyond types, so the page's own script stays small (the kernel is in the Web Worker).
 *
 * @example
 * ```ts
 * import { tinyKernelTask } from "./tiny_task.ts";
 * console.assert(tinyKernelTask({ localSteps: 8 }).localSteps === 8);
 * ```
 */
import type { Hex } from "viem";
import type { ModelConfig } from "../../kernel/params.ts";

/** A task as plain JSON: what a page posts to its Web Worker. */
export interface KernelTask {
  model: ModelConfig;
  B: number;
  T: number;
  /** Seed of the initial weights. */
  initSeed: number;
  /** Seed of batch sampling. */
  seed: number;
  round: number;
  localSteps: number;
  proofEvery: number;
  /** The shard's text (UTF-8 bytes are the tokens). */
  text: string;
  /** 32-byte Ed25519 seed of the node key, hex. */
  nodeSecret: Hex;
  jobId: Hex;
  chainId: number;
  verifyingContract: Hex;
  /** The timestamp every proof carries (seconds). */
  timestamp: number;
}

/** A small task (one-layer GPT, width 16) with every seed fixed; `overrides` replaces fields. */
export function tinyKernelTask(overrides: Partial<KernelTask> = {}): KernelTask {
  return {
    model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
    B: 2,
    T: 16,
    initSeed: 1,
    seed: 7,
    round: 0,
    localSteps: 4,
    proofEvery: 2,
    text: "the quick brown fox jumps over the lazy dog. ".repeat(40),
    nodeSecret: `0x${"42".repeat(32)}`,
    jobId: `0x${"11".repeat(32)}`,
    chainId: 31337,
    verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    timestamp: 1_700_000_000,
    ...overrides,
  };
}

/**
 * The largest task a link to the page may start, per query parameter (inclusive). Found in the
 * browser audit: `?check` trains at once with no limit, so a link of a billion steps at width
 * 65536 and 64 layers froze or crashed the tab of whoever opened it. At the maxima together the
 * check needs a few hundred MB and finishes in minutes.
 */
export const CHECK_LIMITS = {
  steps: { min: 1, max: 100 },
  layers: { min: 1, max: 4 },
  width: { min: 4, max: 256 },
  heads: { min: 1, max: 8 },
  T: { min: 1, max: 256 },
  B: { min: 1, max: 16 },
} as const;

/** A query parameter of the check. */
export type CheckParam = keyof typeof CHECK_LIMITS;

/**
 * The tiny task with the overrides named in `params`, each a decimal integer within
 * {@link CHECK_LIMITS}.
 *
 * @throws {RangeError} naming the first parameter outside its range, and the range
 * @example
 * ```ts
 * import { taskFromQuery } from "./tiny_task.ts";
 * console.assert(taskFromQuery(new URLSearchParams("steps=8&width=64")).model.width === 64);
 * let refused = false;
 * try {
 *   taskFromQuery(new URLSearchParams("steps=1000000000"));
 * } catch (e) {
 *   refused = e instanceof RangeError;
 * }
 * console.assert(refused);
 * ```
 */
export function taskFromQuery(params: URLSearchParams): KernelTask {
  const base = tinyKernelTask();
  const int = (name: CheckParam, fallback: number) => checkParam(params, name, fallback);
  const localSteps = int("steps", base.localSteps);
  const T = int("T", base.T);
  return tinyKernelTask({
    localSteps,
    B: int("B", base.B),
    T,
    model: {
      ...base.model,
      maxT: T,
      layers: int("layers", base.model.layers),
      width: int("width", base.model.width),
      heads: int("heads", base.model.heads),
    },
  });
}

/** The value of `name` in `params` (`fallback` when absent), refused outside its range. */
function checkParam(params: URLSearchParams, name: CheckParam, fallback: number): number {
  const v = params.get(name);
  if (v === null) return fallback;
  const { min, max } = CHECK_LIMITS[name];
  const n = /^\d{1,9}$/.test(v) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) {
    throw new RangeError(
      `Cannot run the kernel check: ${name}=${v.slice(0, 20)} is not an integer from ${min} ` +
        `to ${max}`,
    );
  }
  return n;
}
