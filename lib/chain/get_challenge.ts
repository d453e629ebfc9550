/** A challenge as VerificationManager records it (status 1 open, 2 answered, 3 timed out). */
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** VerificationManager.challengeOf(challengeId). */
export function getChallenge(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; challengeId: bigint },
) {
  return client.readContract({
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "challengeOf",
    args: [params.challengeId],
  });
}
