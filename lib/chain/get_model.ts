/** A model's record in ModelRegistry, and whether an account may add its checkpoints. */
import type { Address, Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** ModelRegistry.getModel(modelId) (owner zero: no such model) and isPublisher(modelId, who). */
export async function getModel(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; modelId: Hex; publisher: Address },
): Promise<{ owner: Address; jobId: Hex; publisher: boolean }> {
  const registry = { address: params.addresses.models, abi: abis.models } as const;
  const [model, publisher] = await Promise.all([
    client.readContract({ ...registry, functionName: "getModel", args: [params.modelId] }),
    client.readContract({
      ...registry,
      functionName: "isPublisher",
      args: [params.modelId, params.publisher],
    }),
  ]);
  return { owner: model.owner, jobId: model.jobId, publisher };
}
