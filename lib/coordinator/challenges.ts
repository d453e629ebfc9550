/**
 * Challenges and spot checks, the coordinator's part in verification: after a round closes it
 * draws the round's spot check (and, for a selected round, its validator committee) and
 * challenges committed nodes (a chunk and a step chosen by on-chain randomness, or a 1-5%
 * gradient sample; always a chunk and a step for a node that committed but delivered nothing,
 * the mark of a copied commit); on later aggregate calls it claims timeouts of unanswered
 * challenges (10% slash) and, as the validator, recomputes the challenged node's round from the
 * previous checkpoint with the kernel and compares what it revealed: a wrong value is a fake
 * gradient (50% slash, escalating to 100% on a third offence).
 */
import type { Hex } from "viem";
import { rescanFrom } from "../chain/log_ranges.ts";
import { SentUnconfirmedError } from "../chain/send_contract.ts";
import { ChallengeStatus } from "../chain/contracts.ts";
import { drawSpotCheck } from "../chain/draw_spot_check.ts";
import { isSpotChecked } from "../chain/is_spot_checked.ts";
import { isVerificationOpen } from "../chain/is_verification_open.ts";
import { getChallenge } from "../chain/get_challenge.ts";
import { getJobChallenges } from "../chain/get_job_challenges.ts";
import { getRoundResult } from "../chain/get_round_result.ts";
import { releaseChallenge } from "../chain/release_challenge.ts";
import { once, revertedWith } from "./once.ts";
import { BPS } from "../job/round_policy.ts";
import { digestHex, hexToBytes } from "../crypto/digest.ts";
import type { JobSpec } from "../job/job_spec.ts";
import {
  issueChallenge,
  issueStepChallenge,
  requestGradientSample,
  timeoutChallenge,
} from "../verify/challenge_chain.ts";
import { chunkCount } from "../crypto/merkle.ts";
import type { Context } from "./context.ts";
import { drawRoundCommittee } from "./committees.ts";
import { verifyAnswer } from "./_challenge_verdict.ts";
import { type Closing, closingKey, drawnFrom, groupSizes, taskResults } from "./closing.ts";
import { groupResults } from "../verify/redundancy.ts";
import {
  getLarge,
  type JobRecord,
  listValues,
  roundUpdates,
  scanStart,
  updateKey,
  type UpdateRecord,
} from "./state.ts";

/** A challenge the coordinator issued and still has to see through. */
export interface ChallengeRecord {
  id: string;
  jobId: Hex;
  round: number;
  nodePubkey: Hex;
  kind: "challenge" | "sample" | "step";
  status: "open" | "timed-out" | "verified" | "penalised" | "skipped";
  /** Found on chain, not issued through this KV (another verifier's): its answer is that
   * verifier's to judge, so it is only timed out, or released once its validation window passed. */
  adopted?: true;
}

const challengeKey = (jobId: string, id: string): Deno.KvKey => ["challenge", jobId, id];

/** Whether `node` is challenged this round: keccak(blockhash, job, round, node) below the rate. */
function drawn(seed: Hex, jobId: Hex, round: number, node: Hex, rate: number): boolean {
  const h = digestHex(
    hexToBytes(`${seed}${jobId.slice(2)}${round.toString(16).padStart(8, "0")}${node.slice(2)}`),
  );
  return Number(BigInt(h) % 1_000_000n) < rate * 1_000_000;
}

/**
 * Draws the spot check and issues the round's challenges and gradient samples under the job's
 * verification policy; with or without one, challenges every node that committed without
 * delivering. Without a policy that was nobody: a node that committed made-up digests each
 * round, delivered nothing and kept heartbeating was paid its full share (two lazy nodes of
 * three took ~60% of a budget). Nothing once the chain opens no case on the job (its last round
 * closed under a settlement delay of 0): a committee drawn then would recompute a round whose
 * attestations the chain refuses.
 */
export async function challengeRound(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  nodes: Hex[],
): Promise<ChallengeRecord[]> {
  const { client, addresses } = ctx.chain;
  if (!await isVerificationOpen(client, { addresses, jobId: job.jobId })) return [];
  const drawn = spec.verification ? await challengeDelivered(ctx, job, spec, nodes) : [];
  const split = spec.verification ? await challengeSplit(ctx, job, spec) : [];
  return [...drawn, ...split, ...await challengeUndelivered(ctx, job, spec, nodes)];
}

/**
 * Marks a closed round whose challenges are not all issued yet: written with the advance of the
 * job's head (round_close.ts), deleted once {@link challengeRound} ran through. It holds the
 * weights the round started from, which a committee drawn for it recomputes from.
 */
export const pendingChallengesKey = (jobId: string, round: number): Deno.KvKey => [
  "challenge_pending",
  jobId.toLowerCase(),
  round,
];

/** What {@link pendingChallengesKey} holds. */
export interface PendingChallenges {
  /** The checkpoint the round started from. */
  globalCid: string;
  /** When the round was closed (the coordinator's clock). */
  at: number;
}

/**
 * The job as its round `round` had it: today's record with every task moved since handed back,
 * newest first. The close's own moves are recorded for the round after (the spare's first), and
 * so are undone too: a node moved off at that close still holds its place, and is challenged for
 * an undelivered commit of the round (found reviewing the owed challenges).
 */
function jobAtRound(job: JobRecord, round: number, p: PendingChallenges): JobRecord {
  const assigned = [...job.assigned];
  for (const m of job.reassigned.filter((r) => r.round > round).reverse()) {
    const at = assigned.indexOf(m.to);
    if (at >= 0) assigned[at] = m.from;
  }
  return { ...job, round, globalCid: p.globalCid, assigned };
}

/** Whether a closed round of the job still owes challenges (finalize waits for them). */
export async function challengesOwed(ctx: Context, jobId: string): Promise<number | undefined> {
  const prefix = ["challenge_pending", jobId.toLowerCase()];
  for await (const e of ctx.kv.list({ prefix }, { limit: 1 })) return e.key[2] as number;
  return undefined;
}

/** How long the close itself has to issue a round's challenges before a follow-up does. */
export const RESUME_CHALLENGES_AFTER_MS = 60_000;

/**
 * Issues the challenges of closed rounds whose close stopped before issuing them all. Found in
 * the coordinator audit: a round's challenges were issued once, right after its close advanced
 * the job, and nothing else ever did; a crash, an evicted isolate or one failed RPC call there
 * left the round's remaining challenges unissued for good, the undelivered commits' among them
 * (the only check of a job without a policy). Issuing again asks no commit twice (askedKey).
 */
export async function resumeChallenges(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
): Promise<void> {
  const prefix = ["challenge_pending", job.jobId.toLowerCase()];
  const markers = await Array.fromAsync(ctx.kv.list<PendingChallenges>({ prefix }));
  if (markers.length === 0) return;
  const { client, addresses } = ctx.chain;
  if (!await isVerificationOpen(client, { addresses, jobId: job.jobId })) {
    // The chain opens no case on the job any more: nothing owed can be issued, and a marker
    // kept for it held finalize's 409 for ever (found reviewing the claims).
    for (const e of markers) await ctx.kv.delete(e.key);
    return;
  }
  for (const e of markers) {
    if (ctx.now() - e.value.at < RESUME_CHALLENGES_AFTER_MS) continue; // its close is on it
    const round = e.key[2] as number;
    const closing = (await getLarge<Closing>(ctx.kv, closingKey(job.jobId, round))).value;
    if (closing) {
      await challengeRound(ctx, jobAtRound(job, round, e.value), spec, drawnFrom(closing) as Hex[]);
    }
    await settleOwed(ctx, job.jobId, round);
  }
}

/**
 * Ends a round's owed challenges once none is held by another sender's claim; while one is, the
 * marker stays and a later follow-up takes the claim over once it is old (a sender that died
 * between its claim and its transaction left the challenge to nobody, found reviewing the claims).
 */
export async function settleOwed(ctx: Context, jobId: string, round: number): Promise<void> {
  const key = pendingChallengesKey(jobId, round);
  // The claims of this round and the 16 before it (the oldest the chain still challenges): a
  // stale asynchronous update is challenged under the round it was trained from. A claim past
  // twice its hold had its takeover run and is not waited for.
  const prefix = ["challenge_asked", jobId.toLowerCase()];
  const range = { start: [...prefix, Math.max(0, round - 16)], end: [...prefix, round + 1] };
  for await (const e of ctx.kv.list<string | { sending: number }>(range)) {
    const v = e.value;
    if (typeof v !== "string" && ctx.now() - v.sending < 2 * CLAIM_TTL_MS) {
      const marker = await ctx.kv.get<PendingChallenges>(key);
      if (marker.value) await ctx.kv.set(key, { ...marker.value, at: ctx.now() });
      return;
    }
  }
  await ctx.kv.delete(key);
}

/**
 * The seed a round's challenges are drawn with: the chain's latest block hash when first asked,
 * then kept, so a round whose challenges are issued again (resumeChallenges) draws the same nodes.
 */
async function drawSeed(ctx: Context, job: Pick<JobRecord, "jobId" | "round">): Promise<Hex> {
  const key = ["challenge_seed", job.jobId.toLowerCase(), job.round];
  const kept = await ctx.kv.get<Hex>(key);
  if (kept.value) return kept.value;
  const seed = (await ctx.chain.client.getBlock()).hash!;
  await ctx.kv.atomic().check(kept).set(key, seed).commit();
  return (await ctx.kv.get<Hex>(key)).value!;
}

/**
 * Every member of a task group whose delivered updates have no majority is challenged, a chunk
 * and a step, whatever the policy's rate: nothing else judges them. The chain cannot settle such
 * a group, its update counts nowhere, and its members delivered, so the undelivered rule skips
 * them; a faker paired with one honest node (redundancy 2) was otherwise paid in full. The
 * validator's recomputation of the answers tells which one faked.
 */
async function challengeSplit(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
): Promise<ChallengeRecord[]> {
  if (spec.verification!.redundancy < 2) return [];
  const holders = new Set<string>(job.assigned);
  const received = (await listValues<UpdateRecord>(ctx.kv, roundUpdates(job.jobId, job.round)))
    .filter((u) => holders.has(u.nodePubkey));
  const groups = groupResults(taskResults(job, received), groupSizes(job));
  const out: ChallengeRecord[] = [];
  for (const g of groups) {
    if (g.consensus || g.counted) continue; // settled by the majority, or a group of one
    for (const r of received.filter((u) => job.taskOf[u.nodePubkey]! + 1 === g.group)) {
      out.push(
        ...await challengeNode(ctx, job, spec, r.nodePubkey, { chosen: true, sampleRate: 0 }),
      );
    }
  }
  return out;
}

/** The spot check, its committee, and the policy's challenges of the round's counted nodes. */
async function challengeDelivered(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  nodes: Hex[],
): Promise<ChallengeRecord[]> {
  const v = spec.verification!;
  const challenges = v.challengeRate > 0 || v.sampleRate > 0;
  if (!challenges && !v.committee) return [];
  const { client, addresses } = ctx.chain;
  const at = { addresses, jobId: job.jobId, round: job.round };
  await once(() => drawSpotCheck(client, at), ["Verification__AlreadyDrawn"]);
  const spotChecked = await isSpotChecked(client, at);
  // A spot-checked round is also recomputed in full by a validator committee (committees.ts).
  if (spotChecked) await drawRoundCommittee(ctx, job, spec, nodes);
  if (!challenges) return [];
  const seed = await drawSeed(ctx, job);
  const out: ChallengeRecord[] = [];
  for (const node of nodes) {
    // A spot-checked round challenges everyone; otherwise each node with the policy's rate.
    const chosen = spotChecked || drawn(seed, job.jobId, job.round, node, v.challengeRate);
    out.push(...await challengeNode(ctx, job, spec, node, { chosen, sampleRate: v.sampleRate }));
  }
  return out;
}

/**
 * A node that committed the round on chain but delivered no update (in a secure job: none in the
 * round's sum, so a dropout, a node left out of the last attempt or one accused answers a step
 * challenge, as a late node of a plain job does) is challenged, a chunk and a step, whatever the
 * policy's rate. That is what a copier looks like: it commits a group mate's
 * public digests, which redundancy then confirms and the round pays, with no update to deliver;
 * it cannot open a chunk of an update or a step record it never computed, so it times out (its
 * reward on the job zeroed, 10% of its stake slashed). An honest node whose update came too late
 * answers from what its worker kept when it committed.
 */
async function challengeUndelivered(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  counted: Hex[],
): Promise<ChallengeRecord[]> {
  const { client, addresses } = ctx.chain;
  const skip = new Set(counted.map((n) => n.toLowerCase()));
  const out: ChallengeRecord[] = [];
  // Nodes moved off the job this round too: a commit stays paid after its node left, so a copier
  // that commits and goes silent until it is replaced would otherwise never be asked for it.
  const movedAway = job.reassigned.filter((r) => r.round === job.round).map((r) => r.from);
  for (const node of new Set([...job.assigned, ...movedAway] as Hex[])) {
    if (skip.has(node.toLowerCase())) continue;
    // A secure job's update record is its envelope: digests the chain holds already, no update.
    // Found reviewing the closing fix: a node that posted it and never joined the session was
    // left out of the sum, of the spot checks and of these challenges, and paid unchecked.
    const record = spec.secureAggregation
      ? undefined
      : (await ctx.kv.get(updateKey(job.jobId, job.round, node))).versionstamp;
    if (record) continue;
    const at = { addresses, jobId: job.jobId, round: job.round, nodePubkey: node };
    if (BigInt(await getRoundResult(client, at)) === 0n) continue; // no commit: nothing paid
    if (opensChunks(spec)) {
      out.push(
        ...await issueRecorded(ctx, job, node, "challenge", () => issueChallenge(client, at)),
      );
    }
    out.push(...await issueRecorded(ctx, job, node, "step", () => issueStepChallenge(client, at)));
  }
  return out;
}

/**
 * Whether the job's challenges may ask for chunks of an update (a chunk challenge, a gradient
 * sample). Not in a secure job: the answer puts raw chunks of the node's unmasked, un-noised
 * update in a public transaction, which secure aggregation exists to keep from anyone (found in
 * the secure aggregation audit). Its nodes are asked a step record (a loss and two digests),
 * which a copier that never trained cannot open either.
 */
function opensChunks(spec: JobSpec): boolean {
  return !spec.secureAggregation;
}

/** Issues a chunk and a step challenge (when `chosen`) and a gradient sample of one node. */
async function challengeNode(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  node: Hex,
  o: { chosen: boolean; sampleRate: number },
): Promise<ChallengeRecord[]> {
  const u = (await ctx.kv.get<UpdateRecord>(updateKey(job.jobId, job.round, node))).value;
  if (!u) return [];
  const { client, addresses } = ctx.chain;
  // An asynchronous job's stale update was committed (and is recomputed) for the round it was
  // trained from, not the one it counts in: challenging that one found no commit and failed the
  // rest of the round's challenges.
  const round = u.baseRound ?? job.round;
  const target = { addresses, jobId: job.jobId, round, nodePubkey: node };
  const issue = (kind: ChallengeRecord["kind"], send: () => Promise<{ challengeId: bigint }>) =>
    issueRecorded(ctx, { jobId: job.jobId, round }, node, kind, send);
  const out: ChallengeRecord[] = [];
  if (o.chosen && opensChunks(spec)) {
    out.push(...await issue("challenge", () => issueChallenge(client, target)));
  }
  if (o.chosen) out.push(...await issue("step", () => issueStepChallenge(client, target)));
  if (o.sampleRate > 0 && opensChunks(spec)) {
    const sample = {
      ...target,
      chunkCount: chunkCount(u.bytes),
      sampleBps: sampleBps(o.sampleRate),
    };
    out.push(...await issue("sample", () => requestGradientSample(client, sample)));
  }
  return out;
}

/** The gradient sample's share of chunks: the policy's rate within the design's 1-5%. */
function sampleBps(rate: number): number {
  return Math.min(500, Math.max(100, Math.round(rate * BPS)));
}

/** How long a claim to send a challenge holds before another run may send it. */
const CLAIM_TTL_MS = 10 * 60_000;

/** Marks that a commit was asked one kind of challenge (each kind once per commit). */
const askedKey = (jobId: string, round: number, node: string, kind: string): Deno.KvKey => [
  "challenge_asked",
  jobId.toLowerCase(),
  round,
  node.toLowerCase(),
  kind,
];

/**
 * Sends one challenge and records it as open, so later aggregate calls see it through. None once
 * the job's settlement is due (after its last round, past ProofOfCompute's settlement delay; with
 * a delay of 0 that is at once): the chain opens no case then, and the round is not challenged.
 * None of a kind the commit was already asked: an asynchronous job's node challenged as
 * undelivered in one round, whose update then counts in the next, was asked a chunk and a step
 * again, and the chain takes at most three challenges a commit (the third, its gradient sample,
 * was then refused).
 */
async function issueRecorded(
  ctx: Context,
  job: Pick<JobRecord, "jobId" | "round">,
  node: Hex,
  kind: ChallengeRecord["kind"],
  send: () => Promise<{ challengeId: bigint }>,
): Promise<ChallengeRecord[]> {
  const asked = askedKey(job.jobId, job.round, node, kind);
  // Claimed before it is sent: a round's challenges may be issued by its close and again by a
  // follow-up (resumeChallenges), and two senders each asked the commit, spending the chain's
  // three challenges a commit. A claim whose sender died is taken over once it is old.
  const claim = await ctx.kv.get<string | { sending: number }>(asked);
  const v = claim.value;
  if (typeof v === "string") return []; // issued
  if (v && ctx.now() - v.sending < CLAIM_TTL_MS) return []; // another sender has it
  const claimed = await ctx.kv.atomic().check(claim).set(asked, { sending: ctx.now() }).commit();
  if (!claimed.ok) return [];
  let challengeId: bigint;
  try {
    ({ challengeId } = await send());
  } catch (e) {
    // A commit's challenges are capped on chain (three): a retry after a crash between the
    // send and its record finds them issued, and asks no more.
    const final = [
      "PoC__VerificationOver",
      "Verification__ChallengeLimit",
      "Verification__RoundTooOld",
      "Verification__NoCommit",
    ];
    if (revertedWith(e, final)) {
      await ctx.kv.set(asked, "refused"); // the chain asks no more of this commit
      return [];
    }
    // Handed to the node with its fate unknown: the claim stays until it is old, and the scan of
    // issued challenges adopts it if it landed (recordIssuedChallenges). Dropped, the next run
    // asked again, and a second challenge of the kind spent the chain's three a commit.
    if (e instanceof SentUnconfirmedError) throw e;
    await ctx.kv.delete(asked); // not sent: the next run may ask it
    throw e;
  }
  const rec: ChallengeRecord = {
    id: challengeId.toString(),
    jobId: job.jobId,
    round: job.round,
    nodePubkey: node,
    kind,
    status: "open",
  };
  await ctx.kv.atomic().set(challengeKey(job.jobId, rec.id), rec).set(asked, rec.id).commit();
  return [rec];
}

/** Where the scan for a job's issued challenges goes on: the next block to read. */
const scanKey = (jobId: string): Deno.KvKey => ["challenge_scan", jobId.toLowerCase()];

/**
 * Records every challenge of `job` issued on chain that KV does not hold (adopted): those of
 * another authorised verifier, and this coordinator's own when it stopped between sending one and
 * recording it. Each holds the job's settlement until it is timed out, or answered and released;
 * nobody else is bound to end them, so the coordinator does (judging the answers stays with
 * whoever issued them).
 */
async function recordIssuedChallenges(ctx: Context, job: JobRecord): Promise<void> {
  const { client, addresses } = ctx.chain;
  const fromBlock = (await ctx.kv.get<bigint>(scanKey(job.jobId))).value ?? scanStart(job);
  const toBlock = await client.getBlockNumber();
  if (toBlock < fromBlock) return;
  const issued = await getJobChallenges(client, {
    addresses,
    jobId: job.jobId,
    fromBlock,
    toBlock,
  });
  for (const c of issued) {
    const rec: ChallengeRecord = {
      id: c.challengeId.toString(),
      jobId: job.jobId,
      round: c.round,
      nodePubkey: c.nodePubkey,
      kind: c.count === 0 ? "step" : "challenge",
      status: "open",
      adopted: true,
    };
    const key = challengeKey(job.jobId, rec.id);
    const added = await ctx.kv.atomic().check({ key, versionstamp: null }).set(key, rec).commit();
    if (!added.ok) continue; // known already
    // One of ours whose sender died before recording it: its claim is settled, not taken over
    // and sent again. A chunk count says a step (0) or a chunk challenge or gradient sample.
    const kinds = c.count === 0 ? ["step"] : ["challenge", "sample"];
    for (const kind of kinds) {
      const asked = askedKey(job.jobId, rec.round, rec.nodePubkey, kind);
      const claim = await ctx.kv.get<string | { sending: number }>(asked);
      if (claim.value && typeof claim.value !== "string") {
        await ctx.kv.atomic().check(claim).set(asked, rec.id).commit();
        break;
      }
    }
  }
  await ctx.kv.set(scanKey(job.jobId), rescanFrom(toBlock, scanStart(job)));
}

/**
 * Claims timeouts and checks answered challenges of a job, whoever issued them; returns what
 * changed.
 */
export async function checkChallenges(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
): Promise<ChallengeRecord[]> {
  await recordIssuedChallenges(ctx, job);
  const open = (await listValues<ChallengeRecord>(ctx.kv, ["challenge", job.jobId])).filter((c) =>
    c.status === "open"
  );
  if (open.length === 0) return [];
  const now = (await ctx.chain.client.getBlock()).timestamp;
  const changed: ChallengeRecord[] = [];
  for (const rec of open) {
    // One case that fails (for now or for good) leaves the others their turn.
    const status = await nextStatus(ctx, job, spec, rec, now).catch((e) => {
      console.error(`challenge ${rec.id} of job ${job.jobId}:`, e);
      return "open" as const;
    });
    if (status !== "open") {
      const next = { ...rec, status };
      await ctx.kv.set(challengeKey(job.jobId, rec.id), next);
      changed.push(next);
    }
  }
  return changed;
}

/**
 * What an open challenge becomes from its status on chain: an unanswered one past its deadline
 * is timed out (the coordinator claims it), an answered one is verified against the recomputed
 * round and then released (ProofOfCompute's settlement waits for it until then).
 */
async function nextStatus(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  rec: ChallengeRecord,
  now: bigint,
): Promise<ChallengeRecord["status"]> {
  const { client, addresses } = ctx.chain;
  const challengeId = BigInt(rec.id);
  const c = await getChallenge(client, { addresses, challengeId });
  if (c.status === ChallengeStatus.Open && now > c.deadline) {
    await once(() => timeoutChallenge(client, { addresses, challengeId }), [
      "Verification__ChallengeClosed",
    ]);
    return "timed-out";
  }
  if (c.status === ChallengeStatus.Failed) return "timed-out";
  if (c.status !== ChallengeStatus.Answered && c.status !== ChallengeStatus.Released) return "open";
  if (rec.adopted) {
    // Judging it too could penalise one wrong answer twice (penalties are not per challenge).
    if (c.status === ChallengeStatus.Released) return "skipped";
    if (now <= c.deadline) return "open";
    await once(() => releaseChallenge(client, { addresses, challengeId }), [
      "Verification__NotAnswered",
    ]);
    return "skipped";
  }
  const status = await verifyAnswer(ctx, job, spec, rec);
  // Checked (and penalised first if wrong), or past the validation window: the challenge stops
  // holding the job's settlement.
  const checked = status !== "open" || now > c.deadline;
  if (c.status === ChallengeStatus.Answered && checked && status !== "penalised") {
    await once(() => releaseChallenge(client, { addresses, challengeId }), [
      "Verification__NotAnswered",
    ]);
  }
  return status;
}
