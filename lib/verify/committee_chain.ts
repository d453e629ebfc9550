/**
 * VerificationManager's validator committees as verification sees them: the committee size to
 * draw, and the lib/chain verbs that request, draw and read a spot-checked round's committee, attest a
 * recomputed result as a committee member, and settle a target's attestations.
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import type { SendResult } from "../chain/send_contract.ts";
import { requestCommittee as requestCommitteeOf } from "../chain/draw_committee.ts";

export { drawCommittee, getCommitteeRequest } from "../chain/draw_committee.ts";
export { readCommittee } from "../chain/read_committee.ts";
export { attestResult } from "../chain/attest_result.ts";
export { settleAttestations } from "../chain/settle_attestations.ts";

/** How VerificationManager settled a target (its `Outcome` enum, generated from the contract). */
export { Outcome as AttestationOutcome } from "../abi/enums.ts";

/** Committee sizes the contract accepts (design doc: 10-20 validators). */
export const MIN_COMMITTEE = 10;
export const MAX_COMMITTEE = 20;

/** The fewest eligible members whose strict majority settles a target (the contract's). */
export const MIN_ATTESTERS = 3;

/**
 * Whether a committee drawn from `assigned` nodes in task groups of `redundancy` can settle any
 * target: a target's validators are the members outside its group, and the chain decides nothing
 * with fewer than `MIN_ATTESTERS` of them, so drawing one would only cost gas.
 *
 * @example
 * ```ts
 * import { committeeCanDecide } from "./committee_chain.ts";
 * console.assert(!committeeCanDecide(3, 1) && committeeCanDecide(4, 1) && !committeeCanDecide(4, 2));
 * ```
 */
export function committeeCanDecide(assigned: number, redundancy: number): boolean {
  return assigned - redundancy >= MIN_ATTESTERS;
}

/**
 * The size to ask for from `candidates` nodes: every candidate up to 20, never below the
 * contract's 10 (the draw then returns all eligible candidates when there are fewer).
 *
 * @example
 * ```ts
 * import { committeeSize } from "./committee_chain.ts";
 * console.assert(committeeSize(3) === 10 && committeeSize(15) === 15 && committeeSize(40) === 20);
 * ```
 */
export function committeeSize(candidates: number): number {
  return Math.min(MAX_COMMITTEE, Math.max(MIN_COMMITTEE, candidates));
}

/**
 * Asks for the committee of a spot-checked round (authorised coordinator): the chain fixes the
 * candidates' weights, and `drawCommittee` draws it once the request's block has ended.
 */
export function requestCommittee(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; candidates: Hex[] },
): Promise<SendResult> {
  return requestCommitteeOf(client, { ...params, size: committeeSize(params.candidates.length) });
}
