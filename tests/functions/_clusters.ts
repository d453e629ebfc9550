/**
 * Fixtures of hierarchical jobs shared by the cluster tests (tests/functions/hierarchical_test.ts,
 * tests/lib/coordinator/cluster_intake_test.ts): a round whose clusters wait for their
 * aggregators, and the slashes a node took.
 */
import assert from "node:assert/strict";
import type { Hex } from "viem";
import { abis } from "../../lib/chain/contracts.ts";
import { clustersOf } from "../../lib/coordinator/clusters.ts";
import type { Coordinator } from "./_coordinator.ts";

/**
 * A one-round hierarchical job of 4 nodes in clusters of 2 whose nodes all trained: the round's
 * close opened its clusters, which wait for their aggregators.
 */
export async function openClusters(fx: Coordinator, options: { clusterAudit?: number } = {}) {
  const s = await fx.scenario();
  const job = await s.job({ nodes: 4, rounds: 1, hierarchical: true, clusterSize: 2, ...options });
  for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
  await s.post("/aggregate", { jobId: job.jobId });
  return { s, job, clusters: await clustersOf(s.ctx, job.jobId, 0) };
}

/** The registry's slashes of `node`, oldest first. */
export function slashesOf(fx: Coordinator, node: Hex) {
  return fx.coordinator.getContractEvents({
    address: fx.addresses.registry,
    abi: abis.registry,
    eventName: "NodeSlashed",
    args: { nodePubkey: node },
    fromBlock: 0n,
  });
}
