/**
 * A secure round's session through its stages: the current attempt, opening the next one (roster,
 * anchor block, seed), and closing the open stage when every awaited message is in or its
 * deadline passed (Unmasking: finishing, which stores the ring sum in SVDB). Every close is one
 * atomic write checked against the head and the stage's message count.
 */
import type { Hex } from "../crypto/digest.ts";
import { getBlockHash } from "../chain/get_block_hash.ts";
import { getJobAssignments } from "../chain/get_job_assignments.ts";
import { getRoundOpenedBlock } from "../chain/get_round_opened_block.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { BPS, quorumCount } from "../job/round_policy.ts";
import { InvalidShareError } from "../privacy/secure_aggregation/errors.ts";
import { resolveParams } from "../privacy/secure_aggregation/params.ts";
import {
  anchorBlocks,
  DEFAULT_STAGE_MS,
  MAX_SECURE_ATTEMPTS,
  rosterAt,
  secureContext,
  secureRoundConfig,
  secureSeed,
} from "../round/secure_session.ts";
import type { Context } from "./context.ts";
import { type JobRecord, setLarge } from "./state.ts";
import {
  applyStored,
  countKey,
  currentAttemptKey,
  exclusive,
  forgetServer,
  liveServer,
  readSession,
  type SecureSession,
  type SessionEntry,
  sessionKey,
  storedSum,
} from "./_secure_store.ts";
import { recordProven } from "./_secure_accusations.ts";

/** Closes the open stage when it may; returns the head after. */
export function advanceSecureRound(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  entry: SessionEntry,
  options: { quorum: boolean },
): Promise<SessionEntry> {
  const { jobId, round, attempt } = entry.value;
  return exclusive(ctx, entry.value, async () => {
    const now = (await readSession(ctx.kv, jobId, round, attempt))!;
    const s = now.value;
    if (s.stage === "Done" || s.stage === "Failed") return now;
    const counted = await ctx.kv.get<Deno.KvU64>(countKey(s, s.stage));
    if (!mayClose(ctx, job, spec, s, Number(counted.value?.value ?? 0n), options.quorum)) {
      return now;
    }
    return await closeWith(ctx, job, now, counted);
  });
}

/** Closes the stage over every stored message; the write fails if one came in meanwhile. */
async function closeWith(
  ctx: Context,
  job: JobRecord,
  entry: SessionEntry,
  counted: Deno.KvEntryMaybe<Deno.KvU64>,
): Promise<SessionEntry> {
  const s = entry.value;
  const live = await liveServer(ctx, entry);
  await applyStored(ctx, s, live.server, live.applied); // what other processes took
  const { next, requests } = await closeStage(ctx, s, live);
  const op = setLarge(ctx.kv.atomic().check(entry).check(counted), entry.key, next);
  const dealer = next.failure?.dealer;
  const res = await (dealer ? recordProven(op, s.jobId, dealer, s.round) : op).commit();
  if (!res.ok) {
    forgetServer(ctx, s); // closed elsewhere, or a message came in: the next call retries
    return (await readSession(ctx.kv, s.jobId, s.round, s.attempt))!;
  }
  Object.assign(live, { versionstamp: res.versionstamp, requests, applied: new Set() });
  if (next.stage === "Done" || next.stage === "Failed") forgetServer(ctx, s); // no more messages
  if (next.stage === "Done") {
    // As closeWhenComplete does: the queue listener closes the round without waiting for cron.
    await ctx.kv.enqueue({ kind: "closeRound", jobId: job.jobId, round: job.round });
  }
  return { ...entry, value: next, versionstamp: res.versionstamp };
}

/**
 * Every awaited message is in; or the stage's deadline passed: AdvertiseKeys with the round's
 * (the quorum too, from the aggregate backstop), later stages `stageMs` after they opened.
 */
function mayClose(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  s: SecureSession,
  count: number,
  quorum: boolean,
): boolean {
  if (count >= s.expected) return true;
  const now = ctx.now();
  if (s.stage !== "AdvertiseKeys") {
    return now - s.stageOpenedAt >= (spec.secureAggregation?.stageMs ?? DEFAULT_STAGE_MS);
  }
  if (now - job.roundOpenedAt >= spec.aggregation.deadlineMs) return true;
  const q = quorumCount(s.config.clients.length, Math.round(spec.aggregation.quorum * BPS));
  return quorum && count >= Math.max(q, s.config.minSurvivors ?? 2);
}

/** The head after closing the live server's stage (Unmasking: finishing), or after failing. */
async function closeStage(
  ctx: Context,
  s: SecureSession,
  live: Awaited<ReturnType<typeof liveServer>>,
): Promise<{ next: SecureSession; requests: typeof live.requests }> {
  const { server } = live;
  try {
    if (s.stage === "Unmasking") {
      const r = await server.finish();
      const ring = new Uint8Array(r.ringSum.buffer, r.ringSum.byteOffset, r.ringSum.byteLength);
      const sumCid = (await ctx.store.put(storedSum(s, ring))).toString();
      const perNode = 16 + 68 + 4 * s.config.vectorLength; // encodeMaskedInput of a node key id
      const result = {
        included: r.included,
        excluded: r.excluded,
        noiseStd: r.noiseStd,
        scale: r.scale,
        sumCid,
        sumHeader: true as const,
        maskedBytes: perNode * r.included.length,
      };
      return { next: { ...s, stage: "Done", result }, requests: new Map() };
    }
    const requests = server.closeStage();
    const stage = server.stage as SecureSession["stage"];
    return { next: { ...s, stage, stageOpenedAt: ctx.now(), expected: requests.size }, requests };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string" || !code.startsWith("SECAGG_")) throw e;
    const failure = { code, message: (e as Error).message, at: ctx.now() };
    // Only finish() rebuilds secrets, from shares that passed their dealer's digests: a secret
    // that does not match its commitment is the dealer's doing, not the revealers'.
    const dealer = e instanceof InvalidShareError ? e.client.toLowerCase() : undefined;
    const failed = {
      ...s,
      stage: "Failed" as const,
      failure: dealer ? { ...failure, dealer } : failure,
    };
    return { next: failed, requests: new Map() };
  }
}

/** The round's current attempt, if one opened. */
export async function currentSession(
  ctx: Context,
  job: JobRecord,
): Promise<SessionEntry | undefined> {
  const attempt = (await ctx.kv.get<number>(currentAttemptKey(job.jobId, job.round))).value;
  return attempt === null ? undefined : await readSession(ctx.kv, job.jobId, job.round, attempt);
}

/** The block a round's sessions are anchored in: the latest that fixed its roster on chain. */
export interface SessionAnchor {
  number: bigint;
  hash: Hex;
  /** The nodes assigned to the job at that block (lower-case, sorted). */
  roster: string[];
}

/**
 * The round's anchor: the latest of the block it opened in and the blocks that assigned a node
 * to the job since (lib/round/secure_session.ts `anchorBlocks`), which a worker checks.
 *
 * @throws {Error} when the chain has no record of the round opening
 */
export async function sessionAnchor(ctx: Context, job: JobRecord): Promise<SessionAnchor> {
  const at = { addresses: ctx.chain.addresses, jobId: job.jobId, round: job.round };
  const [opened, assignments] = await Promise.all([
    getRoundOpenedBlock(ctx.chain.client, at),
    getJobAssignments(ctx.chain.client, at),
  ]);
  if (opened === undefined) throw new Error(`Round ${job.round} has not opened on chain`);
  const number = anchorBlocks(assignments, opened).at(-1)!;
  const { hash } = await getBlockHash(ctx.chain.client, { blockNumber: number });
  return { number, hash, roster: rosterAt(assignments, number) };
}

/**
 * Opens the round's next attempt over `job.assigned` (the nodes assigned at the anchor, less
 * those that sent a masked input in an earlier attempt). The seed comes from the anchor block
 * (default: {@link sessionAnchor}), mined after the roster was fixed, and not from the attempt:
 * a retry is no new draw of the graph. `after` is the attempt the caller saw as the current one
 * (undefined: none; the round's first is attempt `first`); when another caller opened one since,
 * that one is answered.
 *
 * @throws {RangeError} when the roster is too small for the protocol (fewer than 2 nodes), or
 *   the round has had its {@link MAX_SECURE_ATTEMPTS} attempts
 */
export async function openSession(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  after: number | undefined,
  anchor?: SessionAnchor,
  first = 0,
): Promise<SessionEntry> {
  const pointerKey = currentAttemptKey(job.jobId, job.round);
  const pointer = await ctx.kv.get<number>(pointerKey);
  // Two nodes asking at once both saw no session (or the same failed one): only the first may
  // open the next attempt, or the second would replace a session its peers already joined.
  if (pointer.value !== (after ?? null)) return (await currentSession(ctx, job))!;
  const attempt = after === undefined ? first : after + 1;
  if (attempt >= MAX_SECURE_ATTEMPTS) {
    throw new RangeError(
      `Cannot open secure round: round ${job.round} had its ${MAX_SECURE_ATTEMPTS} attempts`,
    );
  }
  const block = anchor ?? await sessionAnchor(ctx, job);
  const at = { chainId: ctx.chain.chainId, jobId: job.jobId, round: job.round };
  const context = secureContext({ ...at, attempt });
  const seed = secureSeed(at, block.hash);
  const assigned = block.roster;
  const config = secureRoundConfig(spec, { context, seed, clients: job.assigned, assigned });
  resolveParams(config); // refuses a roster the protocol cannot run
  const session: SecureSession = {
    jobId: job.jobId,
    round: job.round,
    attempt,
    anchorBlock: block.number.toString(),
    blockHash: block.hash,
    config,
    stage: "AdvertiseKeys",
    stageOpenedAt: ctx.now(),
    expected: config.clients.length,
  };
  const key = sessionKey(job.jobId, job.round, attempt);
  const op = ctx.kv.atomic().check(pointer).check({ key, versionstamp: null })
    .set(pointerKey, attempt);
  await setLarge(op, key, session).commit();
  return (await currentSession(ctx, job))!;
}
