/** The targets a round's committee attested, from VerificationManager's Attested events. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/**
 * Every node any committee member attested in `round` of `jobId` (lower case, each once): each
 * one holds the job's settlement until its attestations are settled.
 */
export async function getAttestedTargets(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; fromBlock?: bigint },
): Promise<Hex[]> {
  const logs = await client.getContractEvents({
    address: params.addresses.verification,
    abi: abis.verification,
    eventName: "Attested",
    args: { jobId: params.jobId },
    fromBlock: params.fromBlock ?? 0n,
  });
  const targets = logs.filter((l) => l.args.round === params.round)
    .map((l) => l.args.targetNode!.toLowerCase() as Hex);
  return [...new Set(targets)];
}
