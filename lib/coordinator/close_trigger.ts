/**
 * Closing a round as soon as it may close: the update that completes a round enqueues a close on
 * the coordinator's KV queue (durable and retried, as Deno Deploy runs it), and the queue's
 * listener closes it (and settles the job after its last round when the settlement delay allows);
 * the minute cron stays the backstop for deadlines, quorums and delays.
 */
import type { Hex } from "viem";
import type { Context } from "./context.ts";
import { finalizeOne } from "./finalize.ts";
import { aggregateJob } from "./round_close.ts";
import { getJob, type JobHead, roundUpdates, updateCountKey } from "./state.ts";

/** The queue message that asks for a round's close. */
export interface CloseRoundMessage {
  kind: "closeRound";
  jobId: Hex;
  round: number;
}

/** Adds one to the round's update count to an atomic operation that stores an update. */
export function countUpdate(
  op: Deno.AtomicOperation,
  jobId: string,
  round: number,
): Deno.AtomicOperation {
  return op.sum(updateCountKey(jobId, round), 1n);
}

/**
 * True when every node holding a task has delivered its update of the open round. Reads the
 * round's count (one read, so n updates cost n reads in all, not n^2 / 2 list entries); a round
 * whose updates were stored before the count existed is counted by listing them.
 */
export async function roundComplete(ctx: Context, job: JobHead): Promise<boolean> {
  const count = await ctx.kv.get<Deno.KvU64>(updateCountKey(job.jobId, job.round));
  let delivered = count.value === null ? 0 : Number(count.value.value);
  if (count.value === null) {
    for await (const _ of ctx.kv.list({ prefix: roundUpdates(job.jobId, job.round) })) delivered++;
  }
  return delivered >= job.assignedCount;
}

/** Enqueues the close of `job`'s open round once all its updates are in. */
export async function closeWhenComplete(ctx: Context, job: JobHead): Promise<void> {
  if (!await roundComplete(ctx, job)) return;
  const message: CloseRoundMessage = { kind: "closeRound", jobId: job.jobId, round: job.round };
  await ctx.kv.enqueue(message);
}

function isCloseRound(m: unknown): m is CloseRoundMessage {
  const c = m as CloseRoundMessage;
  return c?.kind === "closeRound" && typeof c.jobId === "string" && Number.isInteger(c.round);
}

/** The queue listener: closes the round named by the message if it is still the open one. */
export async function onQueueMessage(ctx: Context, message: unknown): Promise<void> {
  if (!isCloseRound(message)) return;
  const job = (await getJob(ctx.kv, message.jobId)).value;
  if (!job || job.status !== "running" || job.round !== message.round) return;
  await aggregateJob(ctx, message.jobId);
  // The last round's close completes the job: settle it now if the settlement delay allows
  // (a refusal inside the delay leaves it to the minute cron).
  if ((await getJob(ctx.kv, message.jobId)).value?.status === "completed") {
    await finalizeOne(ctx, message.jobId);
  }
}
