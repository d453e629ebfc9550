/** A grantee's grant on a dataset (ArthaDIDRegistry.getGrant). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** A grant as stored on chain. */
export interface Grant {
  grantedAt: bigint;
  /** Unix seconds; 0 = no expiry. */
  expiresAt: bigint;
  active: boolean;
  /** The dataset key version the wrapped key opens (older ones grant nothing). */
  keyVersion: number;
  /**
   * The grantee's key nonce the key was wrapped for: once the grantee rotates its keys the grant
   * grants nothing, though `active` stays true (found in the DID audit: /did/access showed such a
   * grant as active with nothing saying why hasAccess was false).
   */
  granteeKeyNonce: number;
  /** SVDB CID of the data key wrapped for the grantee. */
  wrappedKeyCid: string;
}

/**
 * The grant of `granteeDid` on `datasetId` (`active: false` when none).
 *
 * @example
 * ```ts ignore
 * const { wrappedKeyCid } = await getDataGrant(client, { addresses, datasetId, granteeDid });
 * ```
 */
export async function getDataGrant(
  client: ArthaClient,
  params: {
    addresses: Pick<ArthaAddresses, "dids">;
    datasetId: Hex;
    granteeDid: Hex;
    /** Read at this block (default the latest), so two reads see one state. */
    blockNumber?: bigint;
  },
): Promise<Grant> {
  const g = await client.readContract({
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "getGrant",
    args: [params.datasetId, params.granteeDid],
    ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
  });
  return {
    grantedAt: BigInt(g.grantedAt),
    expiresAt: BigInt(g.expiresAt),
    active: g.active,
    keyVersion: g.keyVersion,
    granteeKeyNonce: g.granteeKeyNonce,
    wrappedKeyCid: g.wrappedKeyCid,
  };
}
