/**
 * Whether a cluster task is one the chain backs, before the node sums and signs anything. A
 * cluster aggregator's signed mean is audited by recomputation from the coordinator's own record
 * of the cluster, and a mean that differs costs the aggregator 50% of its stake: so a relay (or a
 * coordinator) that edits one member's scale, samples or update turns an honest aggregator's
 * mean into a "fake" one. Every number of the task is bound here: the job runs on chain with this
 * spec, the round is open, the node is a member, each member's samples are the task's, its scale
 * is 1 (or a staleness weight the spec allows) and it committed the round the scale implies; the
 * bytes of each member's update must then hash to the gradient digest it committed
 * ({@link checkedUpdates}).
 *
 * @example
 * ```ts ignore
 * const checked = await checkClusterTask(client, { addresses, nodePubkey, task, spec });
 * if ("refused" in checked) console.error(`cluster task refused: ${checked.refused}`);
 * else await clusterMeanOf(checkedUpdates(signedUpdates(gateway), checked.digests), task, spec);
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { type ArthaAddresses, JobStatus } from "../chain/contracts.ts";
import { getCommittedDigests } from "../chain/get_committed_digests.ts";
import { readJob } from "../chain/read_job.ts";
import { merkleRoot } from "../crypto/merkle.ts";
import { type JobSpec, jobSpecHash } from "../job/job_spec.ts";
import { sqrtStaleness } from "../strategy/fed_buff.ts";
import { committedBytes } from "./deliver.ts";
import type { ClusterTask } from "./task.ts";

/** A cluster task checked: each member update's committed gradient digest, by CID. */
export type ClusterCheck = { refused: string } | { digests: Map<string, Hex> };

/** Checks `task` against the chain (read from the node's own client); see the module doc. */
export async function checkClusterTask(
  client: ArthaClient,
  p: { addresses: ArthaAddresses; nodePubkey: Hex; task: ClusterTask; spec: JobSpec },
): Promise<ClusterCheck> {
  const { addresses, task, spec } = p;
  const { jobId, round, members } = task;
  const refused = (why: string) => ({ refused: why });
  const job = await readJob(client, { addresses, jobId });
  if (job.status !== JobStatus.Running) return refused(`job ${jobId} is not running on chain`);
  if (jobSpecHash(spec) !== job.paramsHash) {
    return refused(`spec ${task.specCid} is not the one job ${jobId} escrowed (paramsHash)`);
  }
  if (!spec.aggregation.hierarchical) return refused(`job ${jobId} is not aggregated in clusters`);
  if (round !== job.currentRound) {
    return refused(`round ${round} is not job ${jobId}'s open round ${job.currentRound}`);
  }
  const nodes = members.map((m) => m.nodePubkey.toLowerCase());
  if (members.length === 0 || members.length > spec.aggregation.clusterSize) {
    return refused(`${members.length} members, not 1 to ${spec.aggregation.clusterSize}`);
  }
  if (new Set(nodes).size !== nodes.length) return refused("a member appears twice");
  // Two members naming one update would check it against only the last one's digest.
  const cids = members.map((m) => m.updateCid);
  if (new Set(cids).size !== cids.length) return refused("an update appears twice");
  if (!nodes.includes(p.nodePubkey.toLowerCase())) return refused("this node is not a member");
  const taskSamples = spec.localSteps * spec.batch.B * spec.batch.accumSteps;
  const digests = new Map<string, Hex>();
  for (const m of members) {
    if (m.samples !== taskSamples) {
      return refused(
        `member ${m.nodePubkey} claims ${m.samples} samples, the task's are ${taskSamples}`,
      );
    }
    const tau = stalenessOf(m.scale, spec.asynchronous?.maxStaleness ?? 0);
    if (tau === undefined) {
      return refused(`member ${m.nodePubkey}'s scale ${m.scale} is no staleness weight`);
    }
    const at = { addresses, jobId, round: round - tau, nodePubkey: m.nodePubkey as Hex };
    const committed = round - tau >= 0 ? await getCommittedDigests(client, at) : undefined;
    if (!committed) return refused(`member ${m.nodePubkey} committed no round ${round - tau}`);
    digests.set(m.updateCid, committed.gradientDigest);
  }
  return { digests };
}

/** The staleness whose FedBuff weight `scale` is exactly, if it is at most `max`. */
function stalenessOf(scale: number, max: number): number | undefined {
  for (let tau = 0; tau <= max; tau++) {
    if ((tau === 0 ? 1 : sqrtStaleness(tau)) === scale) return tau;
  }
  return undefined;
}

/**
 * `source` with each update's bytes checked against the gradient digest its node committed: a
 * CID the check did not bind, or bytes that hash to something else, are refused with an error.
 */
export function checkedUpdates(
  source: { get(cid: string): Promise<Uint8Array> },
  digests: ReadonlyMap<string, Hex>,
): { get(cid: string): Promise<Uint8Array> } {
  return {
    async get(cid) {
      const want = digests.get(cid);
      if (!want) throw new Error(`Cannot aggregate: update ${cid} is no checked member's`);
      const bytes = await source.get(cid);
      if (merkleRoot(committedBytes(bytes)) !== want) {
        throw new Error(`Cannot aggregate: update ${cid} is not what its node committed`);
      }
      return bytes;
    },
  };
}
