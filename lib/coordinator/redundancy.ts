/**
 * Redundancy settlement over a closed round (its commits are final): every task group with a
 * majority is settled on chain (VerificationManager.settleRedundancy: outliers lose 50%,
 * agreeing members earn a passed proof), then outliers whose result is another group's majority
 * are reported as copycats (100% and deactivation). Idempotent: settled groups are skipped.
 */
import type { Hex } from "viem";
import { reportCopycat, settleRedundancy } from "../verify/challenge_chain.ts";
import { groupResults } from "../verify/redundancy.ts";
import type { Context } from "./context.ts";
import { groupSizes, taskResults } from "./closing.ts";
import { once } from "./once.ts";
import { type JobRecord, listValues, roundUpdates, type UpdateRecord } from "./state.ts";

/**
 * Settles the task groups of `job`'s open round and reports copycats. Every group of two or more
 * is put to the chain, not only those whose delivered updates agree: a majority that committed
 * but delivered late is still a majority there, and an outlier no settlement reached was paid at
 * finalize (which waits for open cases, not for settlements); the chain refuses a group with no
 * majority (NoConsensus).
 */
export async function settleGroups(ctx: Context, job: JobRecord): Promise<void> {
  const { client, addresses } = ctx.chain;
  const at = { addresses, jobId: job.jobId, round: job.round };
  const received = await listValues<UpdateRecord>(ctx.kv, roundUpdates(job.jobId, job.round));
  const results = taskResults(job, received);
  const sizeOf = groupSizes(job);
  const groups = groupResults(results, sizeOf);
  const all = [...new Set(Object.values(job.taskOf).map((task) => task + 1))].sort((a, b) => a - b);
  for (const group of all.filter((g) => sizeOf(g) >= 2)) {
    await once(
      () => settleRedundancy(client, { ...at, group }),
      ["Verification__AlreadySettled", "Verification__NoConsensus"],
    );
  }
  for (const g of groups) {
    for (const copier of g.outliers) {
      const mine = results.find((r) => r.nodePubkey === copier)!.resultHash;
      const original = results.find((r) => r.group !== g.group && r.resultHash === mine);
      if (!original) continue;
      await once(
        () =>
          reportCopycat(client, {
            ...at,
            copier: copier as Hex,
            original: original.nodePubkey as Hex,
          }),
        ["Verification__NotCopycat"],
      );
    }
  }
}
