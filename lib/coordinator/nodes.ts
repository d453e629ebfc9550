/** The nodes a job may use: bound in KV, live and compute-eligible on chain, fitting its plan. */
import { concat, encodePacked, type Hex, keccak256 } from "viem";
import { paramLayout } from "../../kernel/params.ts";
import { getLiveNodes } from "../chain/get_live_nodes.ts";
import { getNodeStakes } from "../chain/get_node_stakes.ts";
import { getRequiredStake } from "../chain/get_required_stake.ts";
import { NodeRole } from "../chain/contracts.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { fitsNode, planModel } from "../job/planner.ts";
import type { Context } from "./context.ts";
import { listValues, type NodeRecord, NODES } from "./state.ts";

/** How much memory the plan of a spec needs, for the planner. */
export function planOf(spec: JobSpec) {
  return planModel(
    { params: paramLayout(spec.model).size },
    { batchSize: spec.batch.B * spec.batch.accumSteps, optimizer: "adamw" },
  );
}

/**
 * Nodes (bound, live and compute-eligible on chain, fitting the plan), best first: by the stake
 * tier their stake on chain reaches now (GPUProvider, TEE, Priority: the design's "100+ ARTH for
 * priority job assignment"), then in the job's own order, a hash of its seed and the key. Found in
 * the node routes audit: ranking by the exact stake recorded at binding let a node staking 1 wei
 * more than its peers take every slot and spare of every job, keys ground towards 0x00 won every
 * tie, and a node slashed or unbonded since kept its place.
 */
export async function eligibleNodes(
  ctx: Context,
  spec: JobSpec,
  seed: Hex,
  exclude: Set<string> = new Set(),
): Promise<NodeRecord[]> {
  const plan = planOf(spec);
  const nodes = (await listValues<NodeRecord>(ctx.kv, NODES))
    .filter((n) => !exclude.has(n.nodePubkey))
    .filter((n) => fitsNode(plan, n.caps).fits);
  const { client, addresses } = ctx.chain;
  const nodePubkeys = nodes.map((n) => n.nodePubkey);
  const live = await getLiveNodes(client, { addresses, nodePubkeys, computeEligible: true });
  const eligible = nodes.filter((_, i) => live[i]);
  const stakes = await getNodeStakes(client, {
    addresses,
    nodePubkeys: eligible.map((n) => n.nodePubkey),
  });
  const tiers = await Promise.all(
    TIERS.map((role) => getRequiredStake(client, { addresses, role })),
  );
  const ranked = eligible.map((n, i) => ({
    node: { ...n, stake: stakes[i]!.toString() },
    tier: tiers.filter((t) => stakes[i]! >= t).length,
    draw: keccak256(concat([seed, n.nodePubkey])),
  }));
  ranked.sort((a, b) => b.tier - a.tier || (a.draw < b.draw ? -1 : a.draw > b.draw ? 1 : 0));
  return ranked.map((r) => r.node);
}

/** The stake tiers, lowest first: a node slashed below the compute floor ranks last. */
const TIERS = [NodeRole.GPUProvider, NodeRole.TEE, NodeRole.Priority];

/**
 * The seed of a job's node order: its id and the time its escrow was made, so a node key cannot
 * be ground for every job in advance.
 */
export function jobNodeSeed(jobId: Hex, createdAt: bigint): Hex {
  return keccak256(encodePacked(["bytes32", "uint64"], [jobId, createdAt]));
}

/** The nodes among `nodes` that are live on chain (a heartbeat within the registry's window). */
export async function liveNodes(ctx: Context, nodes: readonly Hex[]): Promise<Hex[]> {
  const { client, addresses } = ctx.chain;
  const live = await getLiveNodes(client, { addresses, nodePubkeys: nodes });
  return nodes.filter((_, i) => live[i]);
}
