import { parseEventLogs } from "viem";
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

export interface TrainJobTerms {
  modelCid: string;
  datasetCid: string;
  /** keccak256 of the canonical hyper-parameter JSON. */
  paramsHash: Hex;
  rounds: number;
  nodesWanted: number;
  redundancy: number;
  /** Wei per GPU-second for the per-batch reward (design: 0.001 ARTH = 1e15). */
  baseRatePerSecond: bigint;
  /** Validation improvement (bps) that unlocks the accuracy bonus; 0 disables it. */
  targetImprovementBps: number;
  /** The work one committed round is paid as (lib/job/job_spec.ts workTerms). */
  stepsPerRound: number;
  samplesPerStep: number;
  secondsPerStep: number;
}

/** Submits a training job with `budget` wei escrowed; returns its id. */
export async function submitTrain(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; terms: TrainJobTerms; budget: bigint },
): Promise<SendResult & { jobId: Hex }> {
  const sent = await sendContract(client, {
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "submitTrain",
    args: [params.terms],
    value: params.budget,
  });
  const [event] = parseEventLogs({
    abi: abis.jobs,
    eventName: "JobSubmitted",
    logs: sent.receipt.logs,
  });
  if (!event) throw new Error("Cannot submit job: no JobSubmitted event in receipt");
  return { ...sent, jobId: event.args.jobId };
}
