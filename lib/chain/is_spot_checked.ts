/** Whether a closed round was drawn for a spot check (VerificationManager.spotCheckOf). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** Whether the round was drawn for a spot check (VerificationManager.spotCheckOf). */
export async function isSpotChecked(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number },
): Promise<boolean> {
  const [, checked] = await client.readContract({
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "spotCheckOf",
    args: [params.jobId, params.round],
  });
  return checked;
}
