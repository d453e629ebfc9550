/** What a committee member attested about a target's round (0: nothing yet). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** VerificationManager.attestationOf(jobId, round, member, target). */
export async function getAttestation(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; member: Hex; target: Hex },
): Promise<bigint> {
  const { addresses, jobId, round, member, target } = params;
  return BigInt(
    await client.readContract({
      address: addresses.verification,
      abi: abis.verification,
      functionName: "attestationOf",
      args: [jobId, round, member, target],
    }),
  );
}
