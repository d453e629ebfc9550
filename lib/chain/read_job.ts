/** A job as AIJobManager records it (owner, status, paramsHash, rounds, nodes wanted, ...). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** AIJobManager.getJob(jobId). */
export function readJob(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex },
) {
  return client.readContract({
    address: params.addresses.jobs,
    abi: abis.jobs,
    functionName: "getJob",
    args: [params.jobId],
  });
}

/** What {@link readJob} returns. */
export type ReadJobReturnType = Awaited<ReturnType<typeof readJob>>;
