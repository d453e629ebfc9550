/**
 * How much verification a deployment has done: challenges and gradient samples issued
 * (VerificationManager.ChallengeIssued) and slashes (NodeCertRegistry.NodeSlashed), since block 0.
 * What a run's report counts.
 */
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** Counts of verification events since block 0. */
export async function getVerificationCounts(
  client: ArthaClient,
  params: { addresses: ArthaAddresses },
): Promise<{ challenges: number; slashes: number }> {
  const { addresses } = params;
  const slashes = await client.getContractEvents({
    address: addresses.registry,
    abi: abis.registry,
    eventName: "NodeSlashed",
    fromBlock: 0n,
  });
  const issued = await client.getContractEvents({
    address: addresses.verification,
    abi: abis.verification,
    eventName: "ChallengeIssued",
    fromBlock: 0n,
  });
  return { challenges: issued.length, slashes: slashes.length };
}
