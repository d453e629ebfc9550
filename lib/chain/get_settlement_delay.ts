/** ProofOfCompute.settlementDelay: seconds between a job's last round and its settlement. */
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** The deployment's settlement delay in seconds. */
export async function getSettlementDelay(
  client: ArthaClient,
  params: { addresses: ArthaAddresses },
): Promise<number> {
  const delay = await client.readContract({
    address: params.addresses.proofs,
    abi: abis.proofs,
    functionName: "settlementDelay",
  });
  return Number(delay);
}
