/**
 * Which nodes a job gets, from the attacker's side: no stake edge within a tier, no ground key
 * and no stale record takes every job's slots; a higher stake tier still comes first.
 */
import assert from "node:assert/strict";
import { parseEther } from "viem";
import { getRequiredStake } from "../../../lib/chain/get_required_stake.ts";
import { NodeRole } from "../../../lib/chain/contracts.ts";
import { eligibleNodes, jobNodeSeed } from "../../../lib/coordinator/nodes.ts";
import { nodeKey, type NodeRecord } from "../../../lib/coordinator/state.ts";
import { setupCoordinator } from "../../functions/_coordinator.ts";

Deno.test("attacker: nodes staking 1 wei over their tier do not take every job's slots", async () => {
  // Prepare: two attacker nodes stake the GPUProvider tier plus 1 wei. Found in the node routes
  // audit: jobs took the nodes with the most stake, to the wei, then the lowest keys, so these
  // two took both slots of every job (and every spare) from the honest nodes at the tier.
  await using fx = await setupCoordinator({ operators: 4 });
  const s = await fx.scenario();
  const { addresses } = fx;
  const tier = await getRequiredStake(fx.owner, { addresses, role: NodeRole.GPUProvider });
  const attackers: string[] = [];
  for (let i = 0; i < 2; i++) attackers.push((await s.node({ stake: tier + 1n })).nodePubkey);

  // Execute: four two-node jobs start, each registering two honest nodes at the tier's stake.
  const jobs = [];
  for (let i = 0; i < 4; i++) jobs.push(await s.job({ nodes: 2, rounds: 1 }));

  // Assert: some job went to honest nodes (all four to the attackers: ~1e-5 by chance).
  const taken = jobs.filter((j) => j.record.assigned.every((k) => attackers.includes(k)));
  assert.ok(taken.length < jobs.length, `the attackers took all ${jobs.length} jobs`);
});

Deno.test("a job's node order: the stake on chain now, by tier, then the job's own draw", async () => {
  // Prepare: a node staking the Priority tier; an honest node whose record says it holds 1,000
  // ARTH (the stake it bound with, slashed since: the chain says 10).
  await using fx = await setupCoordinator({ operators: 4 });
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1 });
  const priority = await s.node({ stake: parseEther("100") });
  const [stale] = job.record.assigned;
  const key = nodeKey(stale!);
  const rec = (await s.ctx.kv.get<NodeRecord>(key)).value!;
  await s.ctx.kv.set(key, { ...rec, stake: parseEther("1000").toString() });

  // Execute: the order for 16 jobs' seeds.
  const orders = [];
  for (let i = 0n; i < 16n; i++) {
    const nodes = await eligibleNodes(s.ctx, job.spec, jobNodeSeed(job.jobId, i));
    orders.push(nodes);
  }

  // Assert: the Priority node is always first; the stale record is read as the chain's stake
  // and does not come second every time; both others come second in some order.
  const tier = await getRequiredStake(fx.owner, { addresses: fx.addresses, role: 1 });
  for (const o of orders) {
    assert.equal(o[0]!.nodePubkey, priority.nodePubkey);
    assert.equal(o.find((n) => n.nodePubkey === stale)!.stake, tier.toString());
  }
  const seconds = new Set(orders.map((o) => o[1]!.nodePubkey));
  assert.equal(seconds.size, 2, "each of the two tier nodes comes second for some job");
});
