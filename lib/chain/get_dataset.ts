/** A dataset's record (ArthaDIDRegistry.getDataset). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/**
 * The dataset's owner DID, ciphertext CID and key version (`ownerDid` zero when unknown).
 *
 * @example
 * ```ts ignore
 * const { cid } = await getDataset(client, { addresses, datasetId });
 * ```
 */
export async function getDataset(
  client: ArthaClient,
  params: { addresses: Pick<ArthaAddresses, "dids">; datasetId: Hex },
): Promise<{ ownerDid: Hex; cid: string; keyVersion: number }> {
  const d = await client.readContract({
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "getDataset",
    args: [params.datasetId],
  });
  return { ownerDid: d.ownerDid, cid: d.cid, keyVersion: d.keyVersion };
}
