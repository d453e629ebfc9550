/** Whether a node's round result digests are what it committed on chain (ProofOfCompute). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { getRoundResult } from "./get_round_result.ts";

export interface IsResultCommittedParameters {
  addresses: ArthaAddresses;
  jobId: Hex;
  round: number;
  nodePubkey: Hex;
  lossDigest: Hex;
  gradientDigest: Hex;
  weightsDigest: Hex;
}

/** True when ProofOfCompute.resultOf(job, round, node) is the hash of these three digests. */
export async function isResultCommitted(
  client: ArthaClient,
  params: IsResultCommittedParameters,
): Promise<boolean> {
  const [onChain, expected] = await Promise.all([
    getRoundResult(client, params),
    client.readContract({
      address: params.addresses.proofs,
      abi: abis.proofs,
      functionName: "resultHash",
      args: [params.lossDigest, params.gradientDigest, params.weightsDigest],
    }),
  ]);
  return onChain === expected;
}
