/**
 * The coordinator's part in verification (design doc 1.3): after a round closes it draws the
 * round's spot check (and, for a selected round, its validator committee), challenges committed nodes (a chunk and a step chosen by on-chain
 * randomness, or a 1-5% gradient sample); on later aggregate calls it claims timeouts of
 * unanswered challenges (10% slash) and, as the validator, recomputes the challenged node's round
 * from the previous checkpoint with the kernel and compares every revealed chunk: a wrong value
 * is a fake gradient (50% slash, escalating to 100% on a third offence).
 */
import type { Hex } from "viem";
import { abis, SlashReason } from "../lib/chain/contracts.ts";
import { ChainCallError, sendContract } from "../lib/chain/_send.ts";
import { bytesToHex, digestHex, hexToBytes } from "../lib/digest.ts";
import { STEP_RECORD_BYTES } from "../lib/local_training.ts";
import { type JobSpec, roundHyper, taskSeed } from "../lib/job_spec.ts";
import { reproducible, roundEncoder } from "../lib/verify/validation_task.ts";
import {
  issueChallenge,
  issueStepChallenge,
  requestGradientSample,
  timeoutChallenge,
} from "../lib/verify/challenge_chain.ts";
import { recomputeRound, wrongChunks } from "../lib/verify/recompute.ts";
import { chunkCount } from "../lib/merkle.ts";
import type { Context } from "./_context.ts";
import { drawRoundCommittee } from "./_committee.ts";
import { deliveredSlot, loadWeights, processTrainer } from "./_job.ts";
import { type JobRecord, listValues, updateKey, type UpdateRecord } from "./_state.ts";
import { UNCHECKED_DOMAIN } from "../lib/domain.ts";

/** A challenge the coordinator issued and still has to see through. */
export interface ChallengeRecord {
  id: string;
  jobId: Hex;
  round: number;
  nodePubkey: Hex;
  kind: "challenge" | "sample" | "step";
  status: "open" | "timed-out" | "verified" | "penalised" | "skipped";
}

const challengeKey = (jobId: string, id: string): Deno.KvKey => ["challenge", jobId, id];
/** Share of stake a wrong revealed chunk costs (fake gradients, design doc 1.1). */
export const FAKE_GRADIENT_BPS = 5_000n;

/** Whether `node` is challenged this round: keccak(blockhash, job, round, node) below the rate. */
function drawn(seed: Hex, jobId: Hex, round: number, node: Hex, rate: number): boolean {
  const h = digestHex(
    hexToBytes(`${seed}${jobId.slice(2)}${round.toString(16).padStart(8, "0")}${node.slice(2)}`),
  );
  return Number(BigInt(h) % 1_000_000n) < rate * 1_000_000;
}

async function tolerate(call: () => Promise<unknown>, errors: string[]): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (e) {
    if (e instanceof ChainCallError && e.errorName && errors.includes(e.errorName)) return false;
    throw e;
  }
}

/** Draws the spot check and issues the round's challenges and gradient samples. */
export async function challengeRound(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  nodes: Hex[],
): Promise<ChallengeRecord[]> {
  const v = spec.verification;
  const challenges = v !== undefined && (v.challengeRate > 0 || v.sampleRate > 0);
  if (!v || (!challenges && !v.committee)) return [];
  const { client, addresses } = ctx.chain;
  await tolerate(
    () =>
      sendContract(client, {
        address: addresses.verification,
        abi: abis.verification,
        functionName: "drawSpotCheck",
        args: [job.jobId, job.round],
        // The draw uses the hash of the block that closed the round: it lands in a later one.
        blockTag: "pending",
      }),
    ["Verification__AlreadyDrawn"],
  );
  const [, spotChecked] = await client.readContract({
    address: addresses.verification,
    abi: abis.verification,
    functionName: "spotCheckOf",
    args: [job.jobId, job.round],
  });
  // A spot-checked round is also recomputed in full by a validator committee (functions/_committee.ts).
  if (spotChecked) await drawRoundCommittee(ctx, job, spec, nodes);
  if (!challenges) return [];
  const seed = (await client.getBlock()).hash!;
  const out: ChallengeRecord[] = [];
  for (const node of nodes) {
    const u = (await ctx.kv.get<UpdateRecord>(updateKey(job.jobId, job.round, node))).value;
    if (!u) continue;
    const target = {
      addresses,
      jobId: job.jobId,
      round: job.round,
      nodePubkey: node,
      steps: u.steps,
    };
    const issue = async (
      kind: ChallengeRecord["kind"],
      send: () => Promise<{ challengeId: bigint }>,
    ) => {
      const { challengeId } = await send();
      const rec: ChallengeRecord = {
        id: challengeId.toString(),
        jobId: job.jobId,
        round: job.round,
        nodePubkey: node,
        kind,
        status: "open",
      };
      await ctx.kv.set(challengeKey(job.jobId, rec.id), rec);
      out.push(rec);
    };
    // A spot-checked round challenges everyone; otherwise each node with the policy's rate.
    if (spotChecked || drawn(seed, job.jobId, job.round, node, v.challengeRate)) {
      await issue("challenge", () => issueChallenge(client, target));
      await issue("step", () => issueStepChallenge(client, target));
    }
    if (v.sampleRate > 0) {
      const sampleBps = Math.min(500, Math.max(100, Math.round(v.sampleRate * 10_000)));
      await issue(
        "sample",
        () =>
          requestGradientSample(client, { ...target, chunkCount: chunkCount(u.bytes), sampleBps }),
      );
    }
  }
  return out;
}

/** Claims timeouts and checks answered challenges of a job; returns what changed. */
export async function checkChallenges(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
): Promise<ChallengeRecord[]> {
  const { client, addresses } = ctx.chain;
  const open = (await listValues<ChallengeRecord>(ctx.kv, ["challenge", job.jobId])).filter((c) =>
    c.status === "open"
  );
  if (open.length === 0) return [];
  const now = (await client.getBlock()).timestamp;
  const changed: ChallengeRecord[] = [];
  for (const rec of open) {
    const id = BigInt(rec.id);
    const c = await client.readContract({
      address: addresses.verification,
      abi: abis.verification,
      functionName: "challengeOf",
      args: [id],
    });
    let status: ChallengeRecord["status"] = "open";
    if (c.status === 1 && now > c.deadline) {
      await tolerate(() => timeoutChallenge(client, { addresses, challengeId: id }), [
        "Verification__ChallengeClosed",
      ]);
      status = "timed-out";
    } else if (c.status === 3) {
      status = "timed-out";
    } else if (c.status === 2) {
      status = await verifyAnswer(ctx, job, spec, rec);
    }
    if (status !== "open") {
      const next = { ...rec, status };
      await ctx.kv.set(challengeKey(job.jobId, rec.id), next);
      changed.push(next);
    }
  }
  return changed;
}

/** The validator: recompute the node's round and compare the chunks it revealed. */
async function verifyAnswer(
  ctx: Context,
  job: JobRecord,
  spec: JobSpec,
  rec: ChallengeRecord,
): Promise<ChallengeRecord["status"]> {
  // With an error-feedback codec the update depends on the node's residual history, which one
  // round does not reproduce; redundancy and disputes cover those jobs.
  if (!reproducible({ compression: spec.compression })) return "skipped";
  const shard = job.shardOf[rec.nodePubkey];
  if (shard === undefined) return "skipped";
  const slot = await deliveredSlot(ctx.kv, job, spec, rec.round, rec.nodePubkey);
  const { client, addresses } = ctx.chain;
  const logs = await client.getContractEvents({
    address: addresses.verification,
    abi: abis.verification,
    eventName: "ChunkRevealed",
    args: { challengeId: BigInt(rec.id) },
    fromBlock: 0n,
  });
  const startCid = rec.round === 0
    ? spec.initialWeights
    : job.metrics[rec.round - 1]?.checkpointCid;
  if (!startCid) return "open"; // the previous round's checkpoint is not recorded yet
  const global = await loadWeights(ctx.store, startCid);
  const expected = recomputeRound(processTrainer(), global, {
    jobId: job.jobId,
    round: rec.round,
    seed: taskSeed(spec, shard),
    localSteps: spec.localSteps,
    proofEvery: spec.proofEvery,
    domain: UNCHECKED_DOMAIN,
    data: await ctx.store.get(spec.shards[shard]!.cid),
    hyper: roundHyper(spec, rec.round),
  }, { encode: roundEncoder(spec, rec.round, slot) });
  let honest: boolean;
  if (rec.kind === "step") {
    // The step's record (loss, weights hash, gradient hash) must be the recomputed one.
    const [opened] = await client.getContractEvents({
      address: addresses.verification,
      abi: abis.verification,
      eventName: "StepRevealed",
      args: { challengeId: BigInt(rec.id) },
      fromBlock: 0n,
    });
    if (!opened) return "open";
    const step = opened.args.step!;
    const want = bytesToHex(
      expected.stepRecords.subarray(step * STEP_RECORD_BYTES, (step + 1) * STEP_RECORD_BYTES),
    );
    honest = want === opened.args.record!.toLowerCase();
  } else {
    // The openings are chunks of what the gradientDigest covers: the f32 delta, or the payload.
    honest = wrongChunks(
      expected.updateBytes,
      logs.map((l) => ({ chunkIndex: Number(l.args.chunkIndex!), chunk: l.args.chunk! })),
    ).length === 0;
  }
  if (honest) return "verified";
  await sendContract(client, {
    address: addresses.verification,
    abi: abis.verification,
    functionName: "penaliseFor",
    args: [job.jobId, rec.nodePubkey, FAKE_GRADIENT_BPS, SlashReason.FakeGradients, false],
  });
  return "penalised";
}
