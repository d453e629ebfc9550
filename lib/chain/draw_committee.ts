/** Draws and stores a spot-checked round's committee (VerificationManager.drawCommittee). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

export interface DrawCommitteeParameters {
  addresses: ArthaAddresses;
  jobId: Hex;
  round: number;
  /** Nodes the committee is drawn from. */
  candidates: Hex[];
  /** Members to draw (the contract accepts 10-20; fewer eligible candidates yield them all). */
  size: number;
}

/** Sends the draw (authorised coordinator). */
export function drawCommittee(
  client: ArthaClient,
  params: DrawCommitteeParameters,
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "drawCommittee",
    args: [params.jobId, params.round, params.candidates, BigInt(params.size)],
  });
}
