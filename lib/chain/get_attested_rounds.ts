/** The rounds of a job a committee member attested in (VerificationManager Attested events). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** Every round of `jobId` with an attestation (each once, ascending). */
export async function getAttestedRounds(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; fromBlock?: bigint },
): Promise<number[]> {
  const logs = await client.getContractEvents({
    address: params.addresses.verification,
    abi: abis.verification,
    eventName: "Attested",
    args: { jobId: params.jobId },
    fromBlock: params.fromBlock ?? 0n,
  });
  return [...new Set(logs.map((l) => l.args.round!))].sort((a, b) => a - b);
}
