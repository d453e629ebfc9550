/**
 * DisputeGame as verification sees it: a party's Ends from its step digests, the next leaf to
 * open, and the disputes still taking moves; with the lib/chain verbs that open a dispute against
 * a node of one's task group, defend it, reveal one bisection step, arbitrate an unresolved one and
 * read it back (each write one transaction, so a revert names the custom error).
 *
 * @example
 * ```ts ignore
 * import { defendDispute, disputeEnds, DisputePhase, openDisputes } from "./dispute_chain.ts";
 * for (const d of await openDisputes(client, { addresses, nodePubkey })) {
 *   if (d.phase === DisputePhase.AwaitDefence && d.defender === nodePubkey) {
 *     const ends = disputeEnds(mine, steps);
 *     await defendDispute(client, { addresses, disputeId: d.disputeId, ends });
 *   }
 * }
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import type { DisputeEnds } from "../chain/open_dispute.ts";
import { type DisputeInfo, readDispute } from "../chain/read_dispute.ts";
import { getDisputeOpenings } from "../chain/get_dispute_openings.ts";
import { stepsProof, stepsRoot } from "./steps_tree.ts";

export { type DisputeEnds, openDispute } from "../chain/open_dispute.ts";
export { defendDispute } from "../chain/defend_dispute.ts";
export { revealDispute } from "../chain/reveal_dispute.ts";
export { arbitrateDispute } from "../chain/arbitrate_dispute.ts";
export { timeoutDispute } from "../chain/timeout_dispute.ts";
export { expireDispute } from "../chain/expire_dispute.ts";
export { type DisputeInfo, readDispute } from "../chain/read_dispute.ts";

/** Phases of a dispute (DisputeGame.Phase, generated from the contract). */
export { Phase as DisputePhase } from "../abi/enums.ts";
import { Phase as DisputePhase } from "../abi/enums.ts";

/** The committed digest triple of a round. */
export interface RoundDigests {
  lossDigest: Hex;
  gradientDigest: Hex;
  weightsDigest: Hex;
}

/** The leaf both sides open next, as DisputeGame.midpoint. */
export const midpointOf = (d: Pick<DisputeInfo, "lo" | "hi">): number =>
  d.lo + Math.floor((d.hi - d.lo) / 2);

/**
 * A party's Ends from its committed triple and its step digests s_0..s_N.
 *
 * @example
 * ```ts
 * import { disputeEnds } from "./dispute_chain.ts";
 * const s = [1, 2, 3].map((i) => `0x${String(i).repeat(64)}` as const);
 * const ends = disputeEnds({ lossDigest: s[0]!, gradientDigest: s[1]!, weightsDigest: s[2]! }, s);
 * console.assert(ends.startDigest === s[0] && ends.endProof.length === 2);
 * ```
 */
export function disputeEnds(digests: RoundDigests, stepDigests: Hex[]): DisputeEnds {
  const n = stepDigests.length - 1;
  if (n < 1) throw new RangeError("Cannot build dispute ends: need s_0..s_N with N >= 1");
  const { lossDigest, gradientDigest, weightsDigest } = digests;
  return {
    lossDigest,
    gradientDigest,
    weightsDigest,
    stepsRoot: stepsRoot(stepDigests),
    startDigest: stepDigests[0]!,
    startProof: stepsProof(stepDigests, 0),
    endProof: stepsProof(stepDigests, n),
  };
}

/**
 * Disputes opened in [fromBlock, toBlock] that are in one of `phases` (default: still taking
 * moves), narrowed to a job (indexed) and/or to those where `nodePubkey` is a party.
 */
export async function openDisputes(
  client: ArthaClient,
  params: {
    addresses: ArthaAddresses;
    nodePubkey?: Hex;
    jobId?: Hex;
    phases?: number[];
    fromBlock?: bigint;
    toBlock?: bigint;
  },
): Promise<DisputeInfo[]> {
  const phases = params.phases ?? [DisputePhase.AwaitDefence, DisputePhase.Bisecting];
  const node = params.nodePubkey?.toLowerCase();
  const out: DisputeInfo[] = [];
  for (const o of await getDisputeOpenings(client, params)) {
    const parties = [o.challenger, o.defender].map((p) => p.toLowerCase());
    if (node && !parties.includes(node)) continue;
    const d = await readDispute(client, {
      addresses: params.addresses,
      disputeId: o.disputeId,
      openedIn: o.openedIn,
    });
    if (phases.includes(d.phase)) out.push(d);
  }
  return out;
}
