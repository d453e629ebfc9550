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

/** The ModelPublished events from `fromBlock` (default 0) to `toBlock` (default the latest). */
export async function getPublishedModels(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; fromBlock?: bigint; toBlock?: bigint },
): Promise<PublishedModel[]> {
  const events = await client.getContractEvents({
    address: params.addresses.models,
    abi: abis.models,
    eventName: "ModelPublished",
    fromBlock: params.fromBlock ?? 0n,
    toBlock: params.toBlock,
  });
  return events.map((e) => ({
    cid: e.args.cid!,
    modelId: e.args.modelId,
    version: e.args.version,
    weightsDigest: e.args.weightsDigest,
  }));
}
