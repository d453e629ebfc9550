/** Reports a node that committed another group's result (VerificationManager.reportCopycat). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** Proves `copier` committed `original`'s result; the copier loses 100% and is deactivated. */
export function reportCopycat(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; copier: Hex; original: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "reportCopycat",
    args: [params.jobId, params.round, params.copier, params.original],
  });
}
