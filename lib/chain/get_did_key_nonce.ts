/** The nonce a DID's next key proof signs (ArthaDIDRegistry.getDID(didHash).keyNonce). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/**
 * The DID's current key nonce; a rotation's proof signs it, so an old proof cannot be replayed.
 *
 * @example
 * ```ts ignore
 * const nonce = await getDidKeyNonce(client, { addresses, didHash });
 * ```
 */
export async function getDidKeyNonce(
  client: ArthaClient,
  params: { addresses: Pick<ArthaAddresses, "dids">; didHash: Hex },
): Promise<bigint> {
  const doc = await client.readContract({
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "getDID",
    args: [params.didHash],
  });
  return BigInt(doc.keyNonce);
}
