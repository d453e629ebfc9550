/** The step record a node opened in answer to a step challenge (StepRevealed event). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** The first step opened for `challengeId`, or undefined while none is. */
export async function getRevealedStep(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; challengeId: bigint; fromBlock?: bigint },
): Promise<{ step: number; record: Hex } | undefined> {
  const [opened] = await client.getContractEvents({
    address: params.addresses.verification,
    abi: abis.verification,
    eventName: "StepRevealed",
    args: { challengeId: params.challengeId },
    fromBlock: params.fromBlock ?? 0n,
  });
  if (!opened) return undefined;
  return { step: Number(opened.args.step!), record: opened.args.record! };
}
