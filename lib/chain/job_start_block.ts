/** The block a job's events start at, for scans that would otherwise start at block 0. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { firstBlockSince } from "./first_block_since.ts";

/** Jobs whose start block a client remembers: a worker sees a few jobs, a long-lived one more. */
const REMEMBERED_JOBS = 64;
const starts = new WeakMap<ArthaClient, Map<Hex, Promise<bigint>>>();

/**
 * The first block at or after the job's `createdAt` (AIJobManager's record): every event of the
 * job is at or after it. About log2(head) block reads the first time for a job, remembered per
 * client after: a scan from block 0 of a long public chain is thousands of capped log queries.
 *
 * @example
 * ```ts ignore
 * const fromBlock = await jobStartBlock(client, jobId, job.createdAt);
 * ```
 */
export function jobStartBlock(client: ArthaClient, jobId: Hex, createdAt: bigint): Promise<bigint> {
  let known = starts.get(client);
  if (!known) starts.set(client, known = new Map());
  const hit = known.get(jobId);
  if (hit) return hit;
  const found = firstBlockSince(client, createdAt);
  // A failed read is not remembered: the next scan asks again.
  found.catch(() => known.get(jobId) === found && known.delete(jobId));
  known.set(jobId, found);
  if (known.size > REMEMBERED_JOBS) known.delete(known.keys().next().value!);
  return found;
}
