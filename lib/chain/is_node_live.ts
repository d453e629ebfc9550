/** Whether a node is live (recent heartbeat) and, optionally, compute-eligible on chain. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

export interface IsNodeLiveParameters {
  addresses: ArthaAddresses;
  nodePubkey: Hex;
  /** Also require NodeCertRegistry.isComputeEligible (default false). */
  computeEligible?: boolean;
}

/** NodeCertRegistry.isLive (and isComputeEligible when asked, read only for live nodes). */
export async function isNodeLive(
  client: ArthaClient,
  params: IsNodeLiveParameters,
): Promise<boolean> {
  const read = (functionName: "isLive" | "isComputeEligible") =>
    client.readContract({
      address: params.addresses.registry,
      abi: abis.registry,
      functionName,
      args: [params.nodePubkey],
    });
  const live = await read("isLive");
  return live && (params.computeEligible ? await read("isComputeEligible") : true);
}
