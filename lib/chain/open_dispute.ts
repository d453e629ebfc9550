/** Opens a bisection dispute against a node of one's task group (DisputeGame.open). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** A party's openings (DisputeGame.Ends): its digest triple, steps root and proofs of s_0, s_N. */
export interface DisputeEnds {
  lossDigest: Hex;
  gradientDigest: Hex;
  weightsDigest: Hex;
  stepsRoot: Hex;
  startDigest: Hex;
  startProof: Hex[];
  endProof: Hex[];
}

export interface OpenDisputeParameters {
  addresses: ArthaAddresses;
  jobId: Hex;
  round: number;
  /** The challenging node (its operator sends). */
  challenger: Hex;
  /** The node challenged, of the same task group. */
  defender: Hex;
  /** The challenger's openings. */
  ends: DisputeEnds;
}

/**
 * Opens the dispute (challenger's operator), paying the contract's current bond; the id exists
 * only once mined, so it is read back from the DisputeOpened event of the transaction's block.
 */
export async function openDispute(
  client: ArthaClient,
  params: OpenDisputeParameters,
): Promise<SendResult & { disputeId: bigint }> {
  const { addresses: a, jobId, round, challenger, defender, ends } = params;
  const bond = await client.readContract({
    address: a.disputes,
    abi: abis.disputes,
    functionName: "disputeBond",
  });
  const sent = await sendContract(client, {
    address: a.disputes,
    abi: abis.disputes,
    functionName: "open",
    args: [jobId, round, challenger, defender, ends],
    value: bond,
  });
  const logs = await client.getContractEvents({
    address: a.disputes,
    abi: abis.disputes,
    eventName: "DisputeOpened",
    blockHash: sent.receipt.blockHash,
  });
  const log = logs.find((l) => l.transactionHash === sent.hash)!;
  return { ...sent, disputeId: log.args.disputeId! };
}
