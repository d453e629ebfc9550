/** The nodes a job may use: bound in KV, live and compute-eligible on chain, fitting its plan. */
import type { Hex } from "viem";
import { paramLayout } from "../../kernel/params.ts";
import { getLiveNodes } from "../chain/get_live_nodes.ts";
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

/** Nodes (bound, live on chain, fitting the plan) in a stable order: most stake, then key. */
export async function eligibleNodes(
  ctx: Context,
  spec: JobSpec,
  exclude: Set<string> = new Set(),
): Promise<NodeRecord[]> {
  const plan = planOf(spec);
  const nodes = (await listValues<NodeRecord>(ctx.kv, NODES))
    .filter((n) => !exclude.has(n.nodePubkey))
    .filter((n) => fitsNode(plan, n.caps).fits);
  const { client, addresses } = ctx.chain;
  const nodePubkeys = nodes.map((n) => n.nodePubkey);
  const live = await getLiveNodes(client, { addresses, nodePubkeys, computeEligible: true });
  return nodes.filter((_, i) => live[i]).sort(byStakeThenKey);
}

function byStakeThenKey(a: NodeRecord, b: NodeRecord): number {
  const [sa, sb] = [BigInt(a.stake), BigInt(b.stake)];
  if (sa !== sb) return sb > sa ? 1 : -1;
  return a.nodePubkey < b.nodePubkey ? -1 : 1;
}

/** The nodes among `nodes` that are live on chain (a heartbeat within the registry's window). */
export async function liveNodes(ctx: Context, nodes: readonly Hex[]): Promise<Hex[]> {
  const { client, addresses } = ctx.chain;
  const live = await getLiveNodes(client, { addresses, nodePubkeys: nodes });
  return nodes.filter((_, i) => live[i]);
}
