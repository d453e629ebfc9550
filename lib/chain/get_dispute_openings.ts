/** The disputes opened in a block range, from DisputeGame's DisputeOpened events. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** A dispute's opening: its id, parties and block. */
export interface DisputeOpening {
  disputeId: bigint;
  challenger: Hex;
  defender: Hex;
  /** The block it was opened in. */
  openedIn: bigint;
}

/** Disputes opened in [fromBlock (default 0), toBlock], narrowed to a job (indexed) if given. */
export async function getDisputeOpenings(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId?: Hex; fromBlock?: bigint; toBlock?: bigint },
): Promise<DisputeOpening[]> {
  const { addresses, jobId } = params;
  const logs = await client.getContractEvents({
    address: addresses.disputes,
    abi: abis.disputes,
    eventName: "DisputeOpened",
    args: jobId ? { jobId } : undefined,
    fromBlock: params.fromBlock ?? 0n,
    toBlock: params.toBlock,
  });
  return logs.map((l) => ({
    disputeId: l.args.disputeId!,
    challenger: l.args.challenger!,
    defender: l.args.defender!,
    openedIn: l.blockNumber,
  }));
}
