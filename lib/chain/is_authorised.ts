/** Whether an account is authorised on one of the deployment's contracts (Owned.isAuthorised). */
import type { Address } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis } from "./contracts.ts";

/** AIJobManager.isAuthorised(account): whether `account` is one of its coordinators. */
export function isAuthorisedCoordinator(
  client: ArthaClient,
  params: { addresses: { jobs: Address }; account: Address },
): Promise<boolean> {
  return client.readContract({
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "isAuthorised",
    args: [params.account],
  });
}
