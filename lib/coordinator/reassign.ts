/** Moves the tasks of assigned nodes that are no longer live on chain to spare eligible nodes. */
import type { Hex } from "viem";
import { reassignNode } from "../chain/assign_nodes.ts";
import { replaceInGroup } from "../chain/replace_in_group.ts";
import { getJobNodes } from "../chain/get_job_nodes.ts";
import { getReplacementNode } from "../chain/get_replacement_node.ts";
import { readJob } from "../chain/read_job.ts";
import type { Context } from "./context.ts";
import { loadSpec } from "./job.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { eligibleNodes, jobNodeSeed, liveNodes } from "./nodes.ts";
import { once } from "./once.ts";
import { type JobNodeRecord, type JobRecord, scanStart } from "./state.ts";

/** A reassignment: `to` takes the place (task and position) of `from`. */
export interface NodeMove {
  from: Hex;
  to: Hex;
  place: JobNodeRecord;
}

/**
 * Most moves one close or extension makes. Each is written with the job's head in one atomic
 * operation (two entries a move, state.ts moveNode), which Deno KV caps at 1,000 mutations: found
 * reviewing the KV limits fix, a 10,000-node job losing 2,000 nodes with spares to spare would
 * have failed that write for good, after the close was on chain. The rest move at later closes.
 * A restart adopts the chain's replacements of the nodes it reaches; one beyond the cap (a node
 * that died between a cut-short attempt and its retry came first) is adopted at a later close,
 * its task held by the node it replaced until then.
 */
export const MAX_MOVES = 200;

/**
 * The job with every dead node among `missing` replaced by a spare (as many as there are, at most
 * `maxMoves`), and
 * the moves to write with it (state.ts moveNode). In a job with task groups the spare takes its
 * predecessor's place in the group on chain before it is handed the task: outside every group it
 * was judged by none, and a worker refuses a verified job's task that has no group.
 */
export async function reassignDropped(
  ctx: Context,
  job: JobRecord,
  missing: Hex[],
  /** The first round the spare holds the task in: the open one mid-round, the next at a close. */
  round = job.round,
  maxMoves = MAX_MOVES,
): Promise<{ job: JobRecord; moves: NodeMove[] }> {
  if (missing.length === 0) return { job, moves: [] };
  const live = new Set(await liveNodes(ctx, missing));
  const dead = missing.filter((n) => !live.has(n));
  if (dead.length === 0) return { job, moves: [] };
  const spec = await loadSpec(ctx.store, job.specCid);
  const spares = await sparesFor(ctx, job, spec);
  const assigned = [...job.assigned];
  const taskOf = { ...job.taskOf };
  const reassigned = [...job.reassigned];
  const moves: NodeMove[] = [];
  const { client, addresses } = ctx.chain;
  for (const from of dead) {
    if (moves.length === maxMoves) break; // the rest at the next close or extension
    // A restart after this reassignment landed on chain but before the KV write: adopt the
    // chain's replacement instead of reassigning again (which reverts, NotAssigned).
    const scan = { addresses, jobId: job.jobId, fromNode: from, fromBlock: scanStart(job) };
    let to = await getReplacementNode(client, scan);
    if (!to) {
      to = spares.shift();
      if (!to) break;
      await reassignNode(client, { addresses, jobId: job.jobId, fromNode: from, toNode: to });
    }
    if (spec.verification) {
      const moved = { addresses, jobId: job.jobId, fromNode: from, toNode: to };
      await once(() => replaceInGroup(client, moved), ["Verification__AlreadyGrouped"]);
    }
    const index = assigned.indexOf(from);
    assigned[index] = to;
    taskOf[to] = taskOf[from]!;
    reassigned.push({ round, from, to });
    moves.push({ from, to, place: { task: taskOf[from]!, index } });
  }
  return { job: { ...job, assigned, taskOf, reassigned }, moves };
}

/** Eligible nodes that never held a task of the job (in KV or on chain), best first. */
async function sparesFor(ctx: Context, job: JobRecord, spec: JobSpec): Promise<Hex[]> {
  const used = new Set<string>([...job.assigned, ...job.reassigned.map((r) => r.from)]);
  const { client, addresses } = ctx.chain;
  for (const n of await getJobNodes(client, { addresses, jobId: job.jobId })) used.add(n);
  const { createdAt } = await readJob(client, { addresses, jobId: job.jobId });
  const seed = jobNodeSeed(job.jobId, createdAt);
  return (await eligibleNodes(ctx, spec, seed, used)).map((n) => n.nodePubkey);
}
