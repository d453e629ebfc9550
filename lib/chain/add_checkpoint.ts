/** Adds a round's checkpoint to a ModelRegistry model (the coordinator as its publisher). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

export interface AddCheckpointParameters {
  addresses: ArthaAddresses;
  modelId: Hex;
  round: number;
  checkpointCid: string;
  weightsDigest: Hex;
}

/** ModelRegistry.addCheckpoint; reverts ModelRegistry__StaleRound for a round already in. */
export function addCheckpoint(
  client: ArthaClient,
  params: AddCheckpointParameters,
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.models,
    abi: abis.models,
    functionName: "addCheckpoint",
    args: [params.modelId, BigInt(params.round), params.checkpointCid, params.weightsDigest],
  });
}
