/**
 * The digests a node committed for a round, from its RoundCommitted event (ProofOfCompute keeps
 * only their hash, resultOf).
 */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** A commit's digests. */
export interface CommittedDigests {
  lossDigest: Hex;
  gradientDigest: Hex;
  weightsDigest: Hex;
}

/** What `nodePubkey` committed for `round` of `jobId`, undefined when it committed nothing. */
export async function getCommittedDigests(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; nodePubkey: Hex },
): Promise<CommittedDigests | undefined> {
  const logs = await client.getContractEvents({
    address: params.addresses.proofs,
    abi: abis.proofs,
    eventName: "RoundCommitted",
    args: { jobId: params.jobId, nodePubkey: params.nodePubkey },
    fromBlock: 0n,
  });
  const a = logs.find((l) => l.args.round === params.round)?.args;
  if (!a) return undefined;
  return {
    lossDigest: a.lossDigest!,
    gradientDigest: a.gradientDigest!,
    weightsDigest: a.weightsDigest!,
  };
}
