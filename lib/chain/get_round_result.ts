/** What a node committed for a round (ProofOfCompute), if anything. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** ProofOfCompute.resultOf(job, round, node): the hash of its committed digests, zero if none. */
export function getRoundResult(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; nodePubkey: Hex },
): Promise<Hex> {
  return client.readContract({
    address: params.addresses.proofs,
    abi: abis.proofs,
    functionName: "resultOf",
    args: [params.jobId, params.round, params.nodePubkey],
  });
}
