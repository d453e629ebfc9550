/** Slashes a node a share of its stake for a proven offence (VerificationManager.penaliseFor). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

export interface PenaliseNodeParameters {
  addresses: ArthaAddresses;
  jobId: Hex;
  nodePubkey: Hex;
  /** Share of stake, in basis points. */
  bps: bigint;
  /** A SlashReason. */
  reason: number;
  /** Also deactivate the node. */
  deactivate?: boolean;
}

/** VerificationManager.penaliseFor (authorised coordinator). */
export function penaliseNode(
  client: ArthaClient,
  params: PenaliseNodeParameters,
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "penaliseFor",
    args: [params.jobId, params.nodePubkey, params.bps, params.reason, params.deactivate ?? false],
  });
}
