/** One bisection move of a dispute (DisputeGame.reveal). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

export interface RevealDisputeParameters {
  addresses: ArthaAddresses;
  disputeId: bigint;
  /** Whether the challenger's side moves (else the defender's). */
  challengerSide: boolean;
  /** That side's s_mid. */
  digest: Hex;
  /** Its opening against that side's steps root. */
  proof: Hex[];
}

/** Reveals s_mid of one side with its opening (that side's operator). */
export function revealDispute(
  client: ArthaClient,
  params: RevealDisputeParameters,
): Promise<SendResult> {
  const { disputeId, challengerSide, digest, proof } = params;
  return sendContract(client, {
    address: params.addresses.disputes,
    abi: abis.disputes,
    functionName: "reveal",
    args: [disputeId, challengerSide, digest, proof],
  });
}
