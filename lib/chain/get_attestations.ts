/** Who a job's committees attested, from VerificationManager's Attested events. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** One attested target: the round and the node a committee member recomputed. */
export interface Attestation {
  round: number;
  /** Lower case. */
  targetNode: Hex;
}

/**
 * Every (round, target) of `jobId` a committee member attested in [fromBlock (default 0),
 * toBlock (default the head)], each once, in event order.
 */
export async function getAttestations(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; fromBlock?: bigint; toBlock?: bigint },
): Promise<Attestation[]> {
  const logs = await client.getContractEvents({
    address: params.addresses.verification,
    abi: abis.verification,
    eventName: "Attested",
    args: { jobId: params.jobId },
    fromBlock: params.fromBlock ?? 0n,
    toBlock: params.toBlock,
  });
  const seen = new Map<string, Attestation>();
  for (const l of logs) {
    const a = { round: l.args.round!, targetNode: l.args.targetNode!.toLowerCase() as Hex };
    seen.set(`${a.round}:${a.targetNode}`, a);
  }
  return [...seen.values()];
}
