/**
 * Verification overhead per round, as ratios of the training cost, at redundancy 1, 3 and 5 with
 * 10% spot checks (one run each, tiny model, 3 task groups, real Workers on anvil):
 *
 *   deno task bench:verification
 *
 * Training cost = compute of one replica per task + its commits and the round close (gas).
 * Verification cost = the extra replicas (compute and commit gas), redundancy settlement gas,
 * and 10% spot checks: a validator recomputes the round of 10% of tasks and a 10% share of
 * commits is challenged (issue + respond gas).
 */
import { startDevnet } from "../lib/chain/devnet.ts";
import { createTrainer } from "../kernel/train_step.ts";
import { loadKernel } from "../kernel/wasm_module.ts";
import { decodeCheckpoint } from "../lib/model/checkpoint.ts";
import { roundHyper, taskSeed, taskShard } from "../lib/job/job_spec.ts";
import { recomputeRound } from "../lib/verify/recompute.ts";
import { openChunks } from "../lib/verify/chunk_openings.ts";
import { respondChallenge } from "../lib/verify/challenge_chain.ts";
import { abis } from "../lib/chain/contracts.ts";
import { getAbiItem, type Hex, toFunctionSelector } from "viem";
import { challengeAll, closeRound, startVerifyRun } from "../tests/verify/verify_run.ts";
import { UNCHECKED_DOMAIN } from "../lib/crypto/domain.ts";

const GROUPS = 3;
const SETTLE_SELECTOR = toFunctionSelector(
  getAbiItem({ abi: abis.verification, name: "settleRedundancy" }),
);
const SPOT = 0.1;
await using net = await startDevnet({ accounts: 2 + 5 * GROUPS, balanceArth: 1000 });
const trainer = createTrainer(loadKernel());
const rows = [];
for (const r of [1, 3, 5]) {
  const run = await startVerifyRun(net, trainer, {
    nodes: r * GROUPS,
    shards: GROUPS,
    rounds: 1,
    localSteps: 8,
    // Challenges are measured one by one below and scaled to SPOT; the coordinator's own
    // policy-driven challenges stay off so the round close is training cost only.
    verification: { redundancy: r, challengeRate: 0, sampleRate: 0 },
  });
  try {
    /** Gas of the blocks after `from`, and of the redundancy settlements among them. */
    const gasOf = async (from: bigint) => {
      let gas = 0n;
      let settle = 0n;
      const to = await run.validator.getBlockNumber({ cacheTime: 0 });
      for (let b = from + 1n; b <= to; b++) {
        const blk = await run.validator.getBlock({ blockNumber: b, includeTransactions: true });
        gas += blk.gasUsed;
        for (const tx of blk.transactions) {
          if (!tx.input.startsWith(SETTLE_SELECTOR)) continue;
          settle += (await run.validator.getTransactionReceipt({ hash: tx.hash })).gasUsed;
        }
      }
      return [gas, to, settle] as const;
    };
    // Block numbers uncached: viem would answer a number up to a polling interval old, and a
    // span would then count another step's blocks.
    let block = await run.validator.getBlockNumber({ cacheTime: 0 });
    const t0 = performance.now();
    for (const w of run.workers) await w.tick();
    const computeAll = (performance.now() - t0) / 1000;
    const [commitGas, b1] = await gasOf(block);
    block = b1;
    // A challenge on one commit (issue + respond), scaled to 10% of the commits.
    const node = run.workers[0]!.nodePubkey as Hex;
    const issueGas = await challengeAll(run, 0, [node]);
    const issued = (await run.validator.getContractEvents({
      address: run.addresses.verification,
      abi: abis.verification,
      eventName: "ChallengeIssued",
      fromBlock: 0n,
    })).at(-1)!.args;
    const global = decodeCheckpoint(await run.ctx.store.get(run.record.globalCid)).weights;
    const task = run.record.taskOf[node]!;
    const t1 = performance.now();
    const rc = recomputeRound(trainer, global, {
      jobId: run.jobId,
      round: 0,
      seed: taskSeed(run.spec, task),
      localSteps: run.spec.localSteps,
      proofEvery: run.spec.proofEvery,
      domain: UNCHECKED_DOMAIN,
      data: await run.ctx.store.get(run.spec.shards[taskShard(run.spec, task)]!.cid),
      hyper: roundHyper(run.spec, 0),
    });
    const recompute = (performance.now() - t1) / 1000;
    const respondGas = (await respondChallenge(run.validator, {
      addresses: run.addresses,
      challengeId: issued.challengeId!,
      digests: rc,
      openings: openChunks(rc.updateBytes, issued.seed!, issued.count!),
    })).gasUsed;
    block = await run.validator.getBlockNumber({ cacheTime: 0 });
    await closeRound(run);
    // The contract settles a group only once its round is closed, so the coordinator's close
    // sends the redundancy settlements (one per group): verification cost, not training cost.
    const [closeAndSettleGas, , settleGas] = await gasOf(block);
    const closeGas = closeAndSettleGas - settleGas;
    const commitsPerReplica = commitGas / BigInt(r);
    const trainGas = commitsPerReplica + closeGas;
    const perReplicaCompute = computeAll / r;
    const challengeGas = Number(issueGas + respondGas) * SPOT * r * GROUPS;
    const verifyGas = Number(commitGas - commitsPerReplica) + Number(settleGas) + challengeGas;
    const verifyCompute = computeAll - perReplicaCompute + SPOT * GROUPS * recompute;
    rows.push({
      redundancy: r,
      "train s": perReplicaCompute.toFixed(3),
      "verify s": verifyCompute.toFixed(3),
      "compute ratio": (verifyCompute / perReplicaCompute).toFixed(2),
      "train gas": Number(trainGas),
      "verify gas": Math.round(verifyGas),
      "gas ratio": (verifyGas / Number(trainGas)).toFixed(2),
      "settle gas": Number(settleGas),
      "challenge gas": Number(issueGas + respondGas),
    });
  } finally {
    await run.close();
  }
}
console.log(`verification overhead per round (${GROUPS} tasks, ${SPOT * 100}% spot checks)`);
console.table(rows);
