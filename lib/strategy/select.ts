/**
 * From a job spec to the objects that run it: the update codec workers encode with, and the
 * aggregation strategy the coordinator combines with (FedAvg when nothing else is asked for).
 *
 * @example
 * ```ts
 * import { codecFor, robustStrategyFor } from "./select.ts";
 * console.assert(codecFor({ codec: "topk-int8", fraction: 0.01 }).name === "topk-int8");
 * console.assert(robustStrategyFor({ strategy: "trimmed-mean", beta: 0.2 }, 10).name === "trimmed-mean");
 * ```
 */
import type { Codec } from "../compress/codec.ts";
import { fp32Codec } from "../compress/fp32.ts";
import { int8Codec } from "../compress/quantize_int8.ts";
import { int4Codec } from "../compress/quantize_int4.ts";
import { topKCodec } from "../compress/top_k.ts";
import { topKInt8Codec } from "../compress/top_k_int8.ts";
import { partitionCodec, partitionSeed } from "../compress/partition.ts";
import type { JobSpec } from "../job/job_spec.ts";
import type { Strategy } from "./strategy.ts";
import { FedMedian } from "./fed_median.ts";
import { TrimmedMean } from "./trimmed_mean.ts";
import { Krum } from "./krum.ts";
import { Bulyan } from "./bulyan.ts";

/** Where a node stands in a round, for codecs whose payload depends on it (partition). */
export interface CodecTask {
  /** The job's seed (`spec.seed`). */
  jobSeed: number;
  round: number;
  /** The node's slot: its task group's index in the job's assignment. */
  slot: number;
}

/**
 * The codec of a job's compression setting; `task` is required by the partition codec.
 *
 * @throws {TypeError} for the partition codec without a task
 */
export function codecFor(c: NonNullable<JobSpec["compression"]>, task?: CodecTask): Codec {
  switch (c.codec) {
    case "partition":
      if (!task) {
        throw new TypeError("Cannot create the partition codec: it needs the round and slot");
      }
      return partitionCodec({
        seed: partitionSeed(task.jobSeed, task.round),
        slot: task.slot,
        parts: c.parts,
      });
    case "fp32":
      return fp32Codec();
    case "int8":
      return int8Codec();
    case "int4":
      return int4Codec();
    case "topk":
      return topKCodec({ fraction: c.fraction ?? 0.01 });
    case "topk-int8":
      return topKInt8Codec({ fraction: c.fraction ?? 0.01 });
  }
}

/** Most Byzantine nodes each strategy tolerates among `n` (Krum n >= 2f+3, Bulyan n >= 4f+3). */
function maxF(strategy: string, n: number): number {
  if (strategy === "bulyan") return Math.max(0, Math.floor((n - 3) / 4));
  if (strategy === "krum" || strategy === "multi-krum") return Math.max(0, Math.floor((n - 3) / 2));
  return n;
}

/** The fewest updates Krum and Bulyan combine: 2f + 3 and 4f + 3 at f = 0. */
const SELECTING_MIN = 3;

/**
 * The robust strategy of a job for `n` updates (f defaults to 20% of them, within bounds).
 * Krum, multi-Krum and Bulyan need 3 updates even at f = 0; a round closed at its deadline with
 * 1 or 2 (a part of a partition job with as few senders) is combined by the coordinate-wise median
 * instead (their mean, for 2). Found in the coordinator audit: the rule threw, the round's closing
 * set was already recorded, and every later close of the job threw again, so one node withholding
 * its update stalled a 3-node Krum job for good. Among 2 updates no rule tells a Byzantine one
 * apart, and f is 0 there already.
 *
 * @example
 * ```ts
 * import { robustStrategyFor } from "./select.ts";
 * console.assert(robustStrategyFor({ strategy: "krum" }, 2).name === "median");
 * console.assert(robustStrategyFor({ strategy: "krum" }, 3).name === "krum");
 * ```
 */
export function robustStrategyFor(r: NonNullable<JobSpec["robust"]>, n: number): Strategy {
  const selecting = r.strategy === "krum" || r.strategy === "multi-krum" ||
    r.strategy === "bulyan";
  if (selecting && n < SELECTING_MIN) return new FedMedian();
  const f = Math.min(r.f ?? Math.floor(n * 0.2), maxF(r.strategy, n));
  // Found in the secure aggregation audit: with the default f and beta, 3 or 4 updates made
  // f = 0 and a trim of floor(0.2 n) = 0, so trimmed mean, multi-Krum and Bulyan averaged every
  // update, and one Byzantine update of 1e8 among 4 moved the result to 2.5e7. Left to their
  // defaults they drop the most outlying one at least (Bulyan: the median, as below its 7).
  const defaults = r.f === undefined && r.beta === undefined;
  switch (r.strategy) {
    case "median":
      return new FedMedian();
    case "trimmed-mean":
      return new TrimmedMean({ beta: r.beta ?? (n >= 3 && n < 5 ? 1 / n : 0.2) });
    case "krum":
      return new Krum({ f });
    case "multi-krum":
      return new Krum({ f, m: Math.max(1, n - (defaults ? Math.max(f, 1) : f)) });
    case "bulyan":
      return defaults && f === 0 ? new FedMedian() : new Bulyan({ f });
  }
}
