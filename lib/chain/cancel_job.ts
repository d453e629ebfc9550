/**
 * Cancels a job nobody was assigned yet (AIJobManager.cancelJob): the whole budget becomes
 * withdrawable. A running job ends with abandonJob instead.
 */
import { parseEventLogs } from "viem";
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** Cancels an Open job: its escrow is credited back to the owner (withdrawRewards pays it). */
export async function cancelJob(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex },
): Promise<SendResult & { refund: bigint }> {
  const sent = await sendContract(client, {
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "cancelJob",
    args: [params.jobId],
  });
  const logs = parseEventLogs({ abi: abis.jobs, logs: sent.receipt.logs, eventName: "Credited" });
  return { ...sent, refund: logs.reduce((sum, l) => sum + l.args.amount, 0n) };
}
