/**
 * Validator committees, the coordinator's half (design doc, "Validator Committees": 10-20
 * validators drawn at random weighted by reputation; spot checks of 10% of rounds). When a
 * spot-checked round of a job whose policy asks for committees closes, the coordinator asks the
 * chain for the round's committee from the job's assigned nodes (the chain fixes the weights of
 * the compute-eligible ones), draws it in a later block, and records the round's committed nodes
 * as targets. Members fetch validation tasks from GET /assign, one target at a time (every target
 * outside their own task group they have not attested, in an order drawn with the committee:
 * {@link targetOrder}), recompute and attest on chain. Later aggregate calls settle each target: the
 * contract decides by strict majority of the committee and slashes a faked target 50%; the
 * coordinator only triggers it.
 */
import type { Hex } from "viem";
import { rescanFrom } from "../chain/log_ranges.ts";
import { digestHex } from "../crypto/digest.ts";
import { getAttestation } from "../chain/get_attestation.ts";
import { getTaskGroup } from "../chain/get_task_group.ts";
import { getAttestedTargets } from "../chain/get_attested_targets.ts";
import { once, revertedWith } from "./once.ts";
import { type JobSpec, taskSeed, taskShard } from "../job/job_spec.ts";
import {
  committeeCanDecide,
  drawCommittee,
  getCommitteeRequest,
  readCommittee,
  requestCommittee,
  settleAttestations,
} from "../verify/committee_chain.ts";
import { reproducible, type ValidationTask } from "../verify/validation_task.ts";
import type { Context } from "./context.ts";
import { deliveredSlot, loadSpec } from "./job.ts";
import { grantReads } from "./svdb_private.ts";
import { getJobNode, type JobHead, type JobRecord, listValues, scanStart } from "./state.ts";

/** A spot-checked round's committee and what it still has to settle. */
export interface CommitteeRecord {
  jobId: Hex;
  round: number;
  members: Hex[];
  /** Nodes whose round the committee recomputes (the round's counted commits). */
  targets: Hex[];
  /** The round's starting checkpoint. */
  checkpointCid: string;
  /** End of the attestation window, chain seconds. */
  deadline: number;
  /** Targets settled on chain. */
  settled: Hex[];
  /** Every attested target settled after the window: nothing left to look at. */
  done?: boolean;
  /**
   * Nodes outside `targets` members attested (lower case), as far as the scan has read, while
   * not settled: each holds the job's settlement until it is.
   */
  attested?: Hex[];
  /** The next block the scan for attestations reads. */
  next?: number;
}

const committeeKey = (jobId: string, round: number): Deno.KvKey => ["committee", jobId, round];

/**
 * Most candidates a committee request names. The chain checks candidates pairwise and reads each
 * one's stake and reputation: found in the contract audit, 300 cost 11M gas and 600 passed a
 * block's 30M, so no job of ~450 nodes or more could be spot-checked by a committee.
 */
export const MAX_COMMITTEE_CANDIDATES = 128;

/**
 * The round's committee candidates: the job's assigned nodes, or past {@link MAX_COMMITTEE_CANDIDATES}
 * that many of them, ranked by a digest of the job, round and node (the same on every run).
 *
 * @example
 * ```ts
 * import { committeeCandidates } from "./committees.ts";
 * const nodes = Array.from({ length: 300 }, (_, i) => `0x${i.toString(16).padStart(64, "0")}` as const);
 * console.assert(committeeCandidates(`0x${"01".repeat(32)}`, 3, nodes).length === 128);
 * ```
 */
export function committeeCandidates(jobId: Hex, round: number, nodes: readonly Hex[]): Hex[] {
  if (nodes.length <= MAX_COMMITTEE_CANDIDATES) return [...nodes];
  const rank = (n: Hex) => digestHex(new TextEncoder().encode(`${jobId}:${round}:${n}`));
  return [...nodes].map((n) => [rank(n.toLowerCase() as Hex), n] as const)
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .slice(0, MAX_COMMITTEE_CANDIDATES)
    .map(([, n]) => n);
}

/**
 * Draws (once) and records the committee of `job`'s closing round, which the chain selected for
 * a spot check. `job` is the record before the close: its globalCid is the round's start.
 */
export async function drawRoundCommittee(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  targets: Hex[],
): Promise<CommitteeRecord | undefined> {
  const v = spec.verification;
  if (!v?.committee || !reproducible(spec) || targets.length === 0) return;
  if (!committeeCanDecide(job.assigned.length, v.redundancy)) return;
  const key = committeeKey(job.jobId, job.round);
  const existing = (await ctx.kv.get<CommitteeRecord>(key)).value;
  if (existing) return existing;
  const { client, addresses } = ctx.chain;
  const at = { addresses, jobId: job.jobId, round: job.round };
  // Two steps: the request fixes the weights, the draw (a later block) takes its seed from the
  // request's block hash. A restart between them finds the request on chain and draws it.
  const candidates = committeeCandidates(job.jobId, job.round, job.assigned as Hex[]);
  await once(
    () => requestCommittee(client, { ...at, candidates }),
    ["Verification__AlreadyDrawn"],
  );
  const request = await getCommitteeRequest(client, { ...at, fromBlock: scanStart(job) });
  if (!request) {
    throw new Error(`no committee request on chain for ${job.jobId} round ${job.round}`);
  }
  await once(() => drawCommittee(client, { ...at, ...request }), ["Verification__AlreadyDrawn"]);
  const { members, deadline } = await readCommittee(client, at);
  // Members recompute the targets' rounds: they read the targets' shards, and no other node does.
  for (const target of targets) {
    const place = await getJobNode(ctx.kv, job.jobId, target.toLowerCase());
    if (place) {
      await grantReads(ctx, job.jobId, spec.shards[taskShard(spec, place.task)]!.cid, members);
    }
  }
  const rec: CommitteeRecord = {
    ...at,
    members,
    targets: targets.map((t) => t.toLowerCase() as Hex),
    checkpointCid: job.globalCid,
    deadline,
    settled: [],
  };
  await ctx.kv.set(key, rec);
  return rec;
}

/**
 * The order in which a committee's members walk its targets: by keccak256 of the round's draw
 * (job, round, starting checkpoint and the members the chain drew) and the target. Found in the
 * verification audit: every member walked the targets in pubkey order, so a faker with a ground
 * key starting 0xff.. was reached last, after every member's window had run out. No target can
 * choose its place now: the members are drawn after its key was registered and its commit made.
 * One order for all members, not one each: the chain decides a target only when a majority of its
 * eligible members attest it, and members with budgets for part of the targets spread over orders
 * of their own left most targets short of a majority (found reviewing the audit's fix: 2.6 of 40
 * targets decided, against 12 in one shared order, at 10 members with 12 recomputes each).
 *
 * @example
 * ```ts
 * import { targetOrder } from "./committees.ts";
 * const key = (b: string) => `0x${b.repeat(32)}` as const;
 * const rec = { jobId: key("01"), round: 0, checkpointCid: "bafy", members: [key("0a"), key("0b")],
 *   targets: [key("0c"), key("0d"), key("ff")] };
 * console.assert(targetOrder(rec).length === 3);
 * ```
 */
export function targetOrder(
  rec: Pick<CommitteeRecord, "jobId" | "round" | "checkpointCid" | "members" | "targets">,
): Hex[] {
  const text = new TextEncoder();
  const draw = digestHex(
    text.encode(`${rec.jobId}:${rec.round}:${rec.checkpointCid}:${[...rec.members].sort()}`),
  );
  return rec.targets
    .map((t) => [digestHex(text.encode(`${draw}:${t.toLowerCase()}`)), t] as const)
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([, t]) => t);
}

/** The next target `node` has to recompute and attest for `job`, if any. */
export async function validationTaskFor(
  ctx: Context,
  job: JobHead,
  node: Hex,
): Promise<ValidationTask | undefined> {
  const recs = await listValues<CommitteeRecord>(ctx.kv, ["committee", job.jobId]);
  const mine = recs.filter((r) => r.members.includes(node) && r.settled.length < r.targets.length);
  if (mine.length === 0) return;
  const { client, addresses } = ctx.chain;
  const groupOf = (nodePubkey: Hex) =>
    getTaskGroup(client, { addresses, jobId: job.jobId, nodePubkey });
  const now = Number((await client.getBlock()).timestamp);
  const group = await groupOf(node);
  for (const rec of mine) {
    if (now > rec.deadline) continue;
    for (const target of targetOrder(rec)) {
      if (target === node || rec.settled.includes(target)) continue;
      // The contract's rule: nobody attests a member of its own task group.
      const g = await groupOf(target);
      if (g !== 0 && g === group) continue;
      const at = { addresses, jobId: job.jobId, round: rec.round, member: node, target };
      if (await getAttestation(client, at) !== 0n) continue;
      const spec = await loadSpec(ctx.store, job.specCid);
      const { task } = (await getJobNode(ctx.kv, job.jobId, target))!;
      const index = taskShard(spec, task);
      return {
        status: "validate",
        jobId: job.jobId,
        round: rec.round,
        target,
        specCid: job.specCid,
        checkpointCid: rec.checkpointCid,
        shard: { index, cid: spec.shards[index]!.cid },
        seed: taskSeed(spec, task),
        slot: await deliveredSlot(ctx.kv, job, spec, rec.round, target),
      };
    }
  }
}

/**
 * Settles every target of `job`'s committees that the chain can decide (a strict majority
 * attested, or the window ended); returns how many targets were settled now. The targets are
 * the round's counted nodes and any other node a member attested (a node that committed without
 * delivering): each attested one holds the job's settlement until it is settled.
 */
export async function settleCommittees(ctx: Context, job: JobRecord): Promise<number> {
  const { client, addresses } = ctx.chain;
  let count = 0;
  const records = await listValues<CommitteeRecord>(ctx.kv, ["committee", job.jobId]);
  const pending = records.filter((r) => !r.done);
  if (pending.length === 0) return 0;
  const head = await client.getBlock({ blockTag: "latest" });
  const now = Number(head.timestamp);
  for (const rec of pending) {
    const settled = [...rec.settled];
    // From where the last call's scan stopped: found auditing POST /aggregate (anyone may call
    // it), every call read the job's Attested logs from block 0, a query per 2,000 blocks of
    // the whole chain for each pending committee.
    const fromBlock = rec.next === undefined ? scanStart(job) : BigInt(rec.next);
    const found = head.number < fromBlock ? [] : await getAttestedTargets(client, {
      addresses,
      jobId: job.jobId,
      round: rec.round,
      fromBlock,
      toBlock: head.number,
    });
    const attested = [...new Set([...rec.attested ?? [], ...found])];
    for (const target of new Set([...rec.targets, ...attested])) {
      if (settled.includes(target)) continue;
      try {
        await settleAttestations(client, {
          addresses,
          jobId: job.jobId,
          round: rec.round,
          targetNode: target,
        });
        count++;
      } catch (e) {
        if (revertedWith(e, ["Verification__AttestationOpen"])) continue;
        // Settled by someone else, or nothing committed to settle.
        if (!revertedWith(e, ["Verification__AttestationsSettled", "Verification__NoCommit"])) {
          throw e;
        }
      }
      settled.push(target);
    }
    // After the window no new attestation can come: once all are settled, the record is done.
    const all = new Set([...rec.targets, ...attested]);
    const done = now > rec.deadline && [...all].every((t) => settled.includes(t));
    const next = Number(rescanFrom(head.number, scanStart(job)));
    // Kept: the attested nodes outside the targets not settled yet, all that `done` still needs.
    // Kept whole, the list repeated the targets and took the record past KV's 64 KiB a value at
    // ~320 targets (found reviewing the cursor).
    const extra = attested.filter((t) => !rec.targets.includes(t) && !settled.includes(t));
    await ctx.kv.set(committeeKey(job.jobId, rec.round), {
      ...rec,
      settled,
      done,
      attested: extra,
      next,
    });
  }
  return count;
}
