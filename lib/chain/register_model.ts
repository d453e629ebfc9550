import type { Address, Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract } from "./send_contract.ts";

/**
 * Registers a model for a job in ModelRegistry (the client's account owns it) and lets
 * `publisher` (the coordinator) add its checkpoints; returns the model id.
 */
export async function registerModel(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; name: string; jobId: Hex; publisher: Address },
): Promise<Hex> {
  const registry = { address: params.addresses.models, abi: abis.models } as const;
  const args = [params.name, params.jobId] as const;
  // The id derives from (owner, name): read it from the simulation, then send.
  const { result: modelId } = await client.simulateContract({
    ...registry,
    functionName: "registerModel",
    args,
  });
  await sendContract(client, { ...registry, functionName: "registerModel", args });
  await sendContract(client, {
    ...registry,
    functionName: "setPublisher",
    args: [modelId, params.publisher, true],
  });
  return modelId;
}
