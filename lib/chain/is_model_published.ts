/** Whether a CID is a model published in ModelRegistry. */
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** ModelRegistry.isPublished(cid). */
export function isModelPublished(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; cid: string },
): Promise<boolean> {
  return client.readContract({
    address: params.addresses.models,
    abi: abis.models,
    functionName: "isPublished",
    args: [params.cid],
  });
}
