import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** One node's commitment for one round, as ProofOfCompute.RoundCommit. */
export interface RoundCommit {
  jobId: Hex;
  round: number;
  nodePubkey: Hex;
  lossDigest: Hex;
  gradientDigest: Hex;
  weightsDigest: Hex;
  /** Merkle root of the round's TrainProof hashes (lib/round/train_proof.ts). */
  proofsRoot: Hex;
}

/** Commits a round of training: one transaction per node per round, for the job's open round.
 * What the round was worth is the job's fixed terms, so the commit carries only what the node
 * computed. */
export function commitRound(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; commit: RoundCommit },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.proofs,
    abi: abis.proofs,
    functionName: "commitRound",
    args: [params.commit],
  });
}
