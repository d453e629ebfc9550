import type { Hex } from "viem";
import { parseEventLogs } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

export interface PublishModelParameters {
  addresses: ArthaAddresses;
  modelId: Hex;
  /** SVDB CID of the exported model folder. */
  cid: string;
  /** Merkle root of the weights the folder holds. */
  weightsDigest: Hex;
}

/**
 * ModelRegistry.publishModel from the model owner's account: makes `cid` servable
 * (isPublished(cid)) as the model's next version.
 */
export async function publishModel(
  client: ArthaClient,
  params: PublishModelParameters,
): Promise<SendResult & { version: bigint }> {
  const sent = await sendContract(client, {
    address: params.addresses.models,
    abi: abis.models,
    functionName: "publishModel",
    args: [params.modelId, params.cid, params.weightsDigest],
  });
  const log = parseEventLogs({ abi: abis.models, logs: sent.receipt.logs })
    .find((l) => l.eventName === "ModelPublished");
  const version = log?.eventName === "ModelPublished" ? log.args.version : 0n;
  return { ...sent, version };
}
