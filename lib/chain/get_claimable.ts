/** AIJobManager.claimableOf: what an account may withdraw (rewards, refunds, bonds). */
import type { Address } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** Wei `account` (default: the client's) may withdraw now. */
export function getClaimable(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; account?: Address },
): Promise<bigint> {
  return client.readContract({
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "claimableOf",
    args: [params.account ?? client.account.address],
  });
}
