/** A node's task group in a job, as VerificationManager records it (0: none). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** VerificationManager.groupOf(jobId, node). */
export async function getTaskGroup(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; nodePubkey: Hex },
): Promise<number> {
  return Number(
    await client.readContract({
      address: params.addresses.verification,
      abi: abis.verification,
      functionName: "groupOf",
      args: [params.jobId, params.nodePubkey],
    }),
  );
}
