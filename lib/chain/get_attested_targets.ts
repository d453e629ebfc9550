/** The targets a round's committee attested, from VerificationManager's Attested events. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import type { ArthaAddresses } from "./contracts.ts";
import { getAttestations } from "./get_attestations.ts";

/**
 * Every node any committee member attested in `round` of `jobId` (lower case, each once): each
 * one holds the job's settlement until its attestations are settled.
 */
export async function getAttestedTargets(
  client: ArthaClient,
  params: {
    addresses: ArthaAddresses;
    jobId: Hex;
    round: number;
    fromBlock?: bigint;
    toBlock?: bigint;
  },
): Promise<Hex[]> {
  return (await getAttestations(client, params))
    .filter((a) => a.round === params.round)
    .map((a) => a.targetNode);
}
