/** Every model published in ModelRegistry (ModelPublished events, oldest first). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

export interface PublishedModel {
  cid: string;
  modelId?: Hex;
  version?: bigint;
  weightsDigest?: Hex;
}

/** The ModelPublished events since block 0. */
export async function getPublishedModels(
  client: ArthaClient,
  params: { addresses: ArthaAddresses },
): Promise<PublishedModel[]> {
  const events = await client.getContractEvents({
    address: params.addresses.models,
    abi: abis.models,
    eventName: "ModelPublished",
    fromBlock: 0n,
  });
  return events.map((e) => ({
    cid: e.args.cid!,
    modelId: e.args.modelId,
    version: e.args.version,
    weightsDigest: e.args.weightsDigest,
  }));
}
