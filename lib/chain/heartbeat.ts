import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** Sends a heartbeat for a node the client's account operates. */
export function sendHeartbeat(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; nodePubkey: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.registry,
    abi: abis.registry,
    functionName: "heartbeat",
    args: [params.nodePubkey],
  });
}
