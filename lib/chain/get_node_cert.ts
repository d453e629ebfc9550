/** A node's certificate as NodeCertRegistry records it (operator, role, stake, caps, ...). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** NodeCertRegistry.getNode(nodePubkey). */
export function getNodeCert(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; nodePubkey: Hex },
) {
  return client.readContract({
    address: params.addresses.registry,
    abi: abis.registry,
    functionName: "getNode",
    args: [params.nodePubkey],
  });
}
