/**
 * How long a node keeps what it committed: the chain challenges a commit until its round is
 * CHALLENGE_ROUNDS behind the job's open round (VerificationManager.CHALLENGE_ROUNDS), so a node
 * keeps, per job, every commit within that many rounds of its newest one in the job, whatever it
 * does on other jobs meanwhile, and any older one a challenge or dispute of it still needs (a
 * dispute has no age limit, and a challenge issued just before may still be open); it drops a
 * job's commits once the chain opens no case on it and none is open.
 *
 * @example
 * ```ts
 * import { CHALLENGE_ROUNDS, keepChallengeable } from "./commit_retention.ts";
 * const kept = [{ jobId: "0xa", round: 0 }, { jobId: "0xb", round: 0 }];
 * kept.push({ jobId: "0xa", round: CHALLENGE_ROUNDS + 1 });
 * const left = keepChallengeable(kept, "0xa");
 * console.assert(left.length === 2 && left.every((c) => c.jobId === "0xb" || c.round > 0));
 * ```
 */
import type { Hex } from "viem";

/** Rounds behind the open one the chain still challenges a commit (the contract's constant). */
export const CHALLENGE_ROUNDS = 16;

/** A kept commit: its job and round. */
export interface KeptRound {
  jobId: Hex | string;
  round: number;
}

/** The key of a job's round in the sets below: `<jobId lower-case>:<round>`. */
export function roundKey(jobId: string, round: number): string {
  return `${jobId.toLowerCase()}:${round}`;
}

/**
 * `kept` without the commits of `jobId` the chain can no longer challenge: those more than
 * CHALLENGE_ROUNDS rounds before the node's newest commit in the job (the open round is at least
 * that newest round), unless `pinned` (round keys with an open challenge or dispute) holds them.
 * Other jobs' commits are untouched; the order is kept.
 */
export function keepChallengeable<T extends KeptRound>(
  kept: readonly T[],
  jobId: string,
  pinned: ReadonlySet<string> = new Set(),
): T[] {
  const job = jobId.toLowerCase();
  let newest = -1;
  for (const c of kept) if (c.jobId.toLowerCase() === job) newest = Math.max(newest, c.round);
  return kept.filter((c) =>
    c.jobId.toLowerCase() !== job || c.round + CHALLENGE_ROUNDS >= newest ||
    pinned.has(roundKey(c.jobId, c.round))
  );
}
