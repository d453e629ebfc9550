/**
 * A spot-checked round's committee, in VerificationManager's two steps: the coordinator asks for
 * it (requestCommittee fixes the candidates' weights), then anyone draws it from the hash of the
 * request's block (drawCommittee repeats what the request fixed, read from its event).
 */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/** What a committee request fixed: the draw must repeat it exactly. */
export interface CommitteeRequest {
  candidates: Hex[];
  weights: bigint[];
  size: number;
}

/** Asks for the committee of a spot-checked round (authorised coordinator). */
export function requestCommittee(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; candidates: Hex[]; size: number },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "requestCommittee",
    args: [params.jobId, params.round, params.candidates, BigInt(params.size)],
  });
}

/** The round's committee request, from its CommitteeRequested event (undefined if none yet). */
export async function getCommitteeRequest(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; fromBlock?: bigint },
): Promise<CommitteeRequest | undefined> {
  const logs = await client.getContractEvents({
    address: params.addresses.verification,
    abi: abis.verification,
    eventName: "CommitteeRequested",
    args: { jobId: params.jobId },
    fromBlock: params.fromBlock ?? 0n,
  });
  const a = logs.find((l) => l.args.round === params.round)?.args;
  if (!a) return undefined;
  return { candidates: [...a.candidates!], weights: [...a.weights!], size: Number(a.size!) };
}

/** Draws the requested committee (anyone, after the request's block). */
export function drawCommittee(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number } & CommitteeRequest,
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "drawCommittee",
    args: [params.jobId, params.round, params.candidates, params.weights, BigInt(params.size)],
  });
}
