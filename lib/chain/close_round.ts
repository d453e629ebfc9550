import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** Accepts the aggregate of the current round (authorised coordinator). */
export function closeRound(
  client: ArthaClient,
  params: {
    addresses: ArthaAddresses;
    jobId: Hex;
    round: number;
    checkpointCid: string;
    weightsDigest: Hex;
  },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "closeRound",
    args: [params.jobId, params.round, params.checkpointCid, params.weightsDigest],
  });
}

/** Reports the validation improvement (bps) a job achieved (authorised coordinator). */
export function reportAccuracy(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; improvementBps: number },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "reportAccuracy",
    args: [params.jobId, params.improvementBps],
  });
}
