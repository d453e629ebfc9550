/** The disputes opened in a block range, from DisputeGame's DisputeOpened events. */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { readInParts } from "./log_ranges.ts";

/** A dispute's opening: its id, parties and block. */
export interface DisputeOpening {
  disputeId: bigint;
  challenger: Hex;
  defender: Hex;
  /** The block it was opened in. */
  openedIn: bigint;
}

/**
 * Disputes opened in [fromBlock (default 0), toBlock], narrowed to a job (indexed) if given; with
 * a `toBlock`, read in parts of at most LOG_QUERY_BLOCKS.
 */
export async function getDisputeOpenings(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId?: Hex; fromBlock?: bigint; toBlock?: bigint },
): Promise<DisputeOpening[]> {
  const { addresses, jobId } = params;
  const read = (fromBlock: bigint, toBlock?: bigint) =>
    client.getContractEvents({
      address: addresses.disputes,
      abi: abis.disputes,
      eventName: "DisputeOpened",
      args: jobId ? { jobId } : undefined,
      fromBlock,
      toBlock,
    });
  // In parts with a known end: an RPC capping a log query's span refused the whole range.
  const logs = await readInParts(params.fromBlock ?? 0n, params.toBlock, read);
  return logs.map((l) => ({
    disputeId: l.args.disputeId!,
    challenger: l.args.challenger!,
    defender: l.args.defender!,
    openedIn: l.blockNumber,
  }));
}
