/**
 * NodeCertRegistry.stakeOf for many nodes, batched like getLiveNodes: what each has at
 * stake now, slashes and withdrawals included.
 *
 * @example
 * ```ts ignore
 * import { getNodeStakes } from "./get_node_stakes.ts";
 * const stakes = await getNodeStakes(client, { addresses, nodePubkeys });
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { batchReader } from "./get_live_nodes.ts";

/** Each key's stake in wei, in the keys' order. */
export async function getNodeStakes(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; nodePubkeys: readonly Hex[] },
): Promise<bigint[]> {
  const reader = batchReader(client);
  return await Promise.all(params.nodePubkeys.map((nodePubkey) =>
    reader.readContract({
      address: params.addresses.registry,
      abi: abis.registry,
      functionName: "stakeOf",
      args: [nodePubkey],
    })
  ));
}
