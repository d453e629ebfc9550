/** Whether a CID is a model published in ModelRegistry. */
import { cidSpellings } from "../store/cid.ts";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/**
 * ModelRegistry.isPublished(cid) under any of the CID's usual spellings (lib/store/cid.ts
 * cidSpellings): the registry keys a model by the text its publisher gave, and one file has
 * several (found in the inference audit).
 */
export async function isModelPublished(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; cid: string },
): Promise<boolean> {
  let spellings: string[];
  try {
    spellings = cidSpellings(params.cid);
  } catch {
    spellings = [params.cid]; // not a CID: the registry may still hold the text as it was given
  }
  for (const cid of spellings) {
    const published = await client.readContract({
      address: params.addresses.models,
      abi: abis.models,
      functionName: "isPublished",
      args: [cid],
    });
    if (published) return true;
  }
  return false;
}
