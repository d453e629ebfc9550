/** VerificationManager.responseWindow: seconds a challenged node has to answer. */
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** The deployment's challenge response window in seconds (also the attestation window). */
export async function getResponseWindow(
  client: ArthaClient,
  params: { addresses: ArthaAddresses },
): Promise<number> {
  const window = await client.readContract({
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "responseWindow",
  });
  return Number(window);
}
