/** The node keys an operator registered, in registration order (the binding nonce). */
import type { Address, Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** NodeCertRegistry.nodesOf(operator), lower-cased. */
export async function getOperatorNodes(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; operator: Address },
): Promise<Hex[]> {
  const nodes = await client.readContract({
    address: params.addresses.registry,
    abi: abis.registry,
    functionName: "nodesOf",
    args: [params.operator],
  });
  return nodes.map((n) => n.toLowerCase() as Hex);
}
