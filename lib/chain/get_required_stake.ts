/** NodeCertRegistry.requiredStake: the stake a node of a role must deposit to register. */
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/**
 * Wei a node of `role` (NodeRole) stakes when it registers.
 *
 * @example
 * ```ts ignore
 * const stake = await getRequiredStake(client, { addresses, role: NodeRole.GPUProvider });
 * ```
 */
export function getRequiredStake(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; role: number },
): Promise<bigint> {
  return client.readContract({
    address: params.addresses.registry,
    abi: abis.registry,
    functionName: "requiredStake",
    args: [params.role],
  });
}
