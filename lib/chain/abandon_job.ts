/**
 * Ends a stalled running job (AIJobManager.abandonJob) as its owner, or
 * (AIJobManager.abandonJobAsOperator) as the operator of a node ever assigned to it, once
 * getStalledAt allows.
 */
import { parseEventLogs } from "viem";
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/**
 * Abandons a stalled running job: it is cut to the rounds it ran and its budget in proportion;
 * `refund`, the rest, is credited to the owner now, and settlement (finalizeJob, after the
 * settlement delay) pays the nodes' committed rounds and refunds what they are not paid. With
 * `node` (the caller's node, assigned to the job) the caller abandons it as that node's operator.
 */
export async function abandonJob(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; node?: Hex },
): Promise<SendResult & { rounds: number; budget: bigint; refund: bigint }> {
  const { addresses, jobId, node } = params;
  const call = node === undefined
    ? { functionName: "abandonJob" as const, args: [jobId] as const }
    : { functionName: "abandonJobAsOperator" as const, args: [jobId, node] as const };
  const sent = await sendContract(client, { address: addresses.jobs, abi: abis.jobs, ...call });
  const [log] = parseEventLogs({
    abi: abis.jobs,
    logs: sent.receipt.logs,
    eventName: "JobAbandoned",
  });
  if (!log) throw new Error(`${call.functionName}(${jobId}) emitted no JobAbandoned`);
  return { ...sent, rounds: log.args.rounds, budget: log.args.budget, refund: log.args.refund };
}
