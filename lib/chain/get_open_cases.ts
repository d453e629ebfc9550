/**
 * ProofOfCompute.openCasesOf: how many verification cases (challenges, attested targets,
 * disputes) of a job are still open; its settlement waits for every one.
 */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** The open cases of `jobId`. */
export async function getOpenCases(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex },
): Promise<number> {
  return Number(
    await client.readContract({
      address: params.addresses.proofs,
      abi: abis.proofs,
      functionName: "openCasesOf",
      args: [params.jobId],
    }),
  );
}
