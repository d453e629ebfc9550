/**
 * A job's assignment history from AIJobManager's events: every NodeAssigned and TaskReassigned,
 * in chain order. Who was assigned at any block follows from it without archive state, so a
 * worker can check a secure session's roster against the block the session is anchored in.
 */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** One change to a job's nodes: `node` joined, replacing `replaced` when it was a reassignment. */
export interface AssignmentEvent {
  block: bigint;
  logIndex: number;
  /** The node that joined (lower-case). */
  node: Hex;
  /** The node it replaced (lower-case), for a reassignment. */
  replaced?: Hex;
}

/** The job's NodeAssigned and TaskReassigned events, oldest first. */
export async function getJobAssignments(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex },
): Promise<AssignmentEvent[]> {
  const at = { address: params.addresses.jobs, abi: abis.jobs, fromBlock: 0n } as const;
  const [assigned, reassigned] = await Promise.all([
    client.getContractEvents({ ...at, eventName: "NodeAssigned", args: { jobId: params.jobId } }),
    client.getContractEvents({ ...at, eventName: "TaskReassigned", args: { jobId: params.jobId } }),
  ]);
  const events: AssignmentEvent[] = [];
  for (const l of assigned) {
    events.push({ block: l.blockNumber!, logIndex: l.logIndex!, node: lower(l.args.nodePubkey!) });
  }
  // A reassignment emits NodeAssigned for the new node first (same transaction, earlier log);
  // its TaskReassigned log only says whom it replaced, so it is folded into that event.
  for (const l of reassigned) {
    const joined = events.find((e) =>
      e.block === l.blockNumber && e.node === lower(l.args.toNode!) && e.replaced === undefined
    );
    if (joined) joined.replaced = lower(l.args.fromNode!);
  }
  return events.sort((a, b) =>
    a.block === b.block ? a.logIndex - b.logIndex : a.block < b.block ? -1 : 1
  );
}

const lower = (h: Hex) => h.toLowerCase() as Hex;
