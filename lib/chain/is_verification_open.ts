/**
 * ProofOfCompute.verificationOpen: whether a case (challenge, attestation, dispute) may still open
 * on a job. True while it runs; after its last round, until its settlement delay passed or its
 * settlement started; false at once when the deployment's delay is 0.
 */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** Whether `jobId` may still be challenged, attested or disputed on chain. */
export function isVerificationOpen(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex },
): Promise<boolean> {
  return client.readContract({
    address: params.addresses.proofs,
    abi: abis.proofs,
    functionName: "verificationOpen",
    args: [params.jobId],
  });
}
