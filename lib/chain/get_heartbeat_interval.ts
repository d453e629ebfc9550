/** NodeCertRegistry.heartbeatInterval: seconds within which a node must heartbeat. */
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** The deployment's heartbeat interval in seconds (a missed one counts against the node). */
export async function getHeartbeatInterval(
  client: ArthaClient,
  params: { addresses: ArthaAddresses },
): Promise<number> {
  const interval = await client.readContract({
    address: params.addresses.registry,
    abi: abis.registry,
    functionName: "heartbeatInterval",
  });
  return Number(interval);
}
