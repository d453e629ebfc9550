/** A dispute as DisputeGame records it (DisputeGame.disputeOf). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** A dispute as the chain holds it, with the block it was opened in. */
export interface DisputeInfo {
  disputeId: bigint;
  openedIn: bigint;
  jobId: Hex;
  round: number;
  challenger: Hex;
  defender: Hex;
  /** A DisputePhase. */
  phase: number;
  steps: number;
  lo: number;
  hi: number;
  /**
   * s_0: the round's anchored checkpoint (any round after the first, `anchored`), else the start
   * the challenger claimed.
   */
  start: Hex;
  /** Whether `start` is the chain's checkpoint rather than the challenger's claim. */
  anchored: boolean;
  /** s_lo, on which both sides agree. */
  agreed: Hex;
  challengerHi: Hex;
  defenderHi: Hex;
  challengerIn: boolean;
  defenderIn: boolean;
  /** End of the current move (or arbitration) window, in chain seconds. */
  deadline: bigint;
  /**
   * Unresolved by a missed window: the arbiter states the round's right committed result, not
   * s_hi (DisputeGame.timeout).
   */
  byResult: boolean;
}

/** One dispute read from chain; `openedIn` (not stored by the contract) defaults to 0. */
export async function readDispute(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; disputeId: bigint; openedIn?: bigint },
): Promise<DisputeInfo> {
  const d = await client.readContract({
    address: params.addresses.disputes,
    abi: abis.disputes,
    functionName: "disputeOf",
    args: [params.disputeId],
  });
  return {
    disputeId: params.disputeId,
    openedIn: params.openedIn ?? 0n,
    jobId: d.jobId,
    round: d.round,
    challenger: d.challenger,
    defender: d.defender,
    phase: d.phase,
    steps: d.steps,
    lo: d.lo,
    hi: d.hi,
    start: d.start,
    agreed: d.agreed,
    challengerHi: d.challengerHi,
    defenderHi: d.defenderHi,
    challengerIn: d.challengerIn,
    defenderIn: d.defenderIn,
    deadline: d.deadline,
    anchored: d.anchored,
    byResult: d.byResult,
  };
}
