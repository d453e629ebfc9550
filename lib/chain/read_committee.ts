/** The stored validator committee of a round (VerificationManager.committeeOf). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** The committee's members (lower-case keys) and the end of its window (chain seconds). */
export async function readCommittee(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number },
): Promise<{ members: Hex[]; deadline: number }> {
  const [members, deadline] = await client.readContract({
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "committeeOf",
    args: [params.jobId, params.round],
  });
  return { members: members.map((m) => m.toLowerCase() as Hex), deadline: Number(deadline) };
}
