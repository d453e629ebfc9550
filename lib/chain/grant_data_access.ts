/** Grants a DID access to a dataset (ArthaDIDRegistry.grantDataAccess). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

export interface GrantDataAccessParameters {
  addresses: Pick<ArthaAddresses, "dids">;
  datasetId: Hex;
  granteeDid: Hex;
  /**
   * The grantee's encKey the data key was wrapped to: the chain refuses the grant
   * (`DID__KeyChanged`) once the grantee holds another.
   */
  encKey: Hex;
  /** SVDB CID of the data key wrapped for the grantee. */
  wrappedKeyCid: string;
  /** Unix seconds; 0 or omitted = no expiry. */
  expiresAt?: bigint;
}

/**
 * Sends the grant (dataset owner only).
 *
 * @example
 * ```ts ignore
 * await grantDataAccess(client, { addresses, datasetId, granteeDid, encKey, wrappedKeyCid });
 * ```
 */
export function grantDataAccess(
  client: ArthaClient,
  params: GrantDataAccessParameters,
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "grantDataAccess",
    args: [
      params.datasetId,
      params.granteeDid,
      params.encKey,
      params.wrappedKeyCid,
      params.expiresAt ?? 0n,
    ],
  });
}
