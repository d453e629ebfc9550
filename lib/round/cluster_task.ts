/**
 * Hierarchical aggregation by workers (design doc, "Hybrid Approach"): the coordinator splits a
 * round's updates into clusters of 10-20; one worker per cluster (its cluster aggregator) sums
 * its members' updates with the exact, order-independent FedAvg and posts the cluster mean with
 * the cluster's total samples; the global step combines cluster means weighted by those totals.
 * Because the sum is exact, anyone re-running a cluster gets the same bytes: the coordinator
 * audits clusters by recomputation and penalises an aggregator whose mean differs.
 *
 * @example
 * ```ts
 * import { clusterMean } from "./cluster_task.ts";
 * import { fp32Codec } from "../compress/fp32.ts";
 * const bytes = new Map([
 *   ["a", fp32Codec().encode(new Float32Array([1, 2])).bytes],
 *   ["b", fp32Codec().encode(new Float32Array([3, 4])).bytes],
 * ]);
 * const { delta, totalSamples } = await clusterMean(
 *   [{ nodePubkey: "0x01", updateCid: "a", samples: 1, scale: 1 }, { nodePubkey: "0x02", updateCid: "b", samples: 3, scale: 1 }],
 *   async (cid) => bytes.get(cid)!,
 *   2,
 * );
 * console.assert(delta[0] === 2.5 && totalSamples === 4);
 * ```
 */
import { type ArthaDomain, typedDigest } from "../crypto/domain.ts";
import { type Hex, keccak256 } from "viem";
import { StreamingFedAvg } from "../strategy/streaming_fed_avg.ts";
import { decodeUpdateBytes } from "./update_envelope.ts";
import { type NodeKey, signBytes, verifyBytes } from "../crypto/keys.ts";
import { hexToBytes } from "../crypto/digest.ts";

/** One update a cluster aggregator must include. */
export interface ClusterMember {
  nodePubkey: string;
  updateCid: string;
  samples: number;
  /** Staleness weight (asynchronous jobs), 1 otherwise. */
  scale: number;
}

/** What a cluster aggregator is asked to do. */
export interface ClusterTask {
  status: "cluster";
  jobId: Hex;
  /** The job spec (model size) the cluster's updates belong to. */
  specCid: string;
  round: number;
  cluster: number;
  members: ClusterMember[];
}

/** The exact weighted mean of a cluster's updates and its total samples. */
export async function clusterMean(
  members: readonly ClusterMember[],
  read: (cid: string) => Promise<Uint8Array>,
  length: number,
): Promise<{ delta: Float32Array; totalSamples: number }> {
  const acc = new StreamingFedAvg(length);
  for (const m of members) {
    const { delta } = decodeUpdateBytes(await read(m.updateCid), length);
    if (m.scale !== 1) { for (let i = 0; i < delta.length; i++) delta[i] = delta[i]! * m.scale; }
    acc.add({ nodeId: m.nodePubkey, delta, numSamples: m.samples });
  }
  if (acc.rejected.length > 0) {
    throw new RangeError(
      `Cannot aggregate cluster: ${acc.rejected.map((r) => r.reason).join("; ")}`,
    );
  }
  const totalSamples = acc.totalSamples;
  return { delta: acc.finish().delta, totalSamples };
}

/** A cluster aggregate as posted: who made it, where it is, and which members it sums. */
export interface ClusterSubmission {
  jobId: Hex;
  round: number;
  cluster: number;
  nodePubkey: Hex;
  aggregateCid: string;
  totalSamples: number;
  /** {@link clusterMembersDigest} of the members the aggregator summed, as its task named them. */
  membersDigest: Hex;
}

/**
 * The digest of a cluster's members (node, update, samples, scale, in order): signed with the
 * mean, so the coordinator tells a task edited on its way (a relay swapping a member for another
 * node that committed the round) from a fake mean, and refuses it instead of penalising the
 * honest aggregator for summing what it was handed.
 */
export function clusterMembersDigest(members: readonly ClusterMember[]): Hex {
  const rows = members.map((m) => [m.nodePubkey.toLowerCase(), m.updateCid, m.samples, m.scale]);
  return keccak256(new TextEncoder().encode(JSON.stringify(rows)));
}

const SUBMISSION_FIELDS = [
  { name: "jobId", type: "bytes32" },
  { name: "round", type: "uint32" },
  { name: "cluster", type: "uint32" },
  { name: "nodePubkey", type: "bytes32" },
  { name: "aggregateCid", type: "string" },
  { name: "totalSamples", type: "uint64" },
  { name: "membersDigest", type: "bytes32" },
] as const;

/** The EIP-712 ClusterSubmission digest in `domain` (the deployment's ProofOfCompute). */
function submissionDigest(s: ClusterSubmission, domain: ArthaDomain): Hex {
  return typedDigest(domain, "ClusterSubmission", SUBMISSION_FIELDS, {
    jobId: s.jobId,
    round: s.round,
    cluster: s.cluster,
    nodePubkey: s.nodePubkey,
    aggregateCid: s.aggregateCid,
    totalSamples: BigInt(s.totalSamples),
    membersDigest: s.membersDigest,
  });
}

/** Signs a cluster submission with the aggregator's node key. */
export function signClusterSubmission(
  key: NodeKey,
  s: ClusterSubmission,
  domain: ArthaDomain,
): Hex {
  return signBytes(key, hexToBytes(submissionDigest(s, domain)));
}

/** Whether `signature` is the submission's aggregator's. */
export function verifyClusterSubmission(
  s: ClusterSubmission,
  signature: Hex,
  domain: ArthaDomain,
): boolean {
  return verifyBytes(s.nodePubkey, hexToBytes(submissionDigest(s, domain)), signature);
}
