/** A DID's on-chain record (ArthaDIDRegistry.getDID). */
import type { Address, Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** The on-chain half of a DID document. */
export interface OnChainDid {
  didHash: Hex;
  /** Controller account. */
  owner: Address;
  authKey: Hex;
  encKey: Hex;
  /** SVDB CID of the full document. */
  metaCid: string;
  created: bigint;
  updated: bigint;
  revoked: boolean;
}

/**
 * The DID's record; `null` when it was never created (the contract answers a zero owner).
 *
 * @example
 * ```ts ignore
 * const record = await getDid(client, { addresses, didHash });
 * ```
 */
export async function getDid(
  client: ArthaClient,
  params: { addresses: Pick<ArthaAddresses, "dids">; didHash: Hex },
): Promise<OnChainDid | null> {
  const d = await client.readContract({
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "getDID",
    args: [params.didHash],
  });
  if (/^0x0{40}$/.test(d.owner)) return null;
  return {
    didHash: d.didHash,
    owner: d.owner,
    authKey: d.authKey,
    encKey: d.encKey,
    metaCid: d.metaCid,
    created: BigInt(d.created),
    updated: BigInt(d.updated),
    revoked: d.revoked,
  };
}
