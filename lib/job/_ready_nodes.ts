/**
 * How many workers a job owner's coordinator could give a job now (private to submit.ts): it
 * waits for them before escrowing.
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { getLiveNodes } from "../chain/get_live_nodes.ts";
import { planOf } from "../coordinator/nodes.ts";
import type { CoordinatorClient } from "../worker/client.ts";
import type { JobSpec } from "./job_spec.ts";
import { fitsNode, type NodeCaps } from "./planner.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The most nodes /status lists in one answer (lib/coordinator/status.ts STATUS_PAGE). */
const STATUS_NODES_MAX = 10_000;

/**
 * How many of the coordinator's bound nodes it could give this job now: live and
 * compute-eligible on chain, and fitting the job's plan, as its start chooses them
 * (lib/coordinator/nodes.ts eligibleNodes). Its node count alone included nodes gone offline,
 * unstaked or too small, and the owner escrowed for workers the start then did not find.
 */
async function readyNodes(
  client: ArthaClient,
  coordinator: CoordinatorClient,
  o: { addresses: ArthaAddresses; spec: JobSpec },
): Promise<number> {
  type Listed = { nodePubkey: Hex; caps: NodeCaps };
  const status = await coordinator.getJson<{ nodes: Listed[] }>(
    `/status?nodes=${STATUS_NODES_MAX}`,
  );
  const plan = planOf(o.spec);
  const fit = status.nodes.filter((n) => fitsNode(plan, n.caps).fits).map((n) => n.nodePubkey);
  if (fit.length === 0) return 0;
  const live = await getLiveNodes(client, {
    addresses: o.addresses,
    nodePubkeys: fit,
    computeEligible: true,
  });
  return live.filter(Boolean).length;
}

/** Waits until the coordinator has `nodes` workers it could assign (or the time is up). */
export async function waitForNodes(
  client: ArthaClient,
  coordinator: CoordinatorClient,
  o: {
    params: { nodes: number; waitNodesMs?: number; deployment: { addresses: ArthaAddresses } };
    spec: JobSpec;
    log: (line: string) => void;
  },
): Promise<void> {
  const { nodes } = o.params, waitMs = o.params.waitNodesMs ?? 600_000;
  const deadline = Date.now() + waitMs;
  const addresses = o.params.deployment.addresses;
  let seen = -1;
  for (;;) {
    const ready = await readyNodes(client, coordinator, { addresses, spec: o.spec });
    if (ready >= nodes) return;
    if (Date.now() >= deadline) {
      throw new Error(
        `only ${ready} of ${nodes} workers bound to the coordinator are live, eligible and fit ` +
          `the model after ${Math.round(waitMs / 1000)} s; start more workers or ask for fewer ` +
          "--nodes",
      );
    }
    if (ready !== seen) o.log(`waiting for ${nodes} live, eligible workers (${ready} so far)`);
    seen = ready;
    await sleep(1000);
  }
}
