/**
 * Chain verbs of VerificationManager's validator committees: draw and store a spot-checked round's
 * committee (authorised coordinator), attest a recomputed result as a committee member, and settle
 * a target's attestations. Each is one transaction through sendContract, so a revert names the
 * custom error.
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { abis, type ArthaAddresses } from "../chain/contracts.ts";
import { sendContract, type SendResult } from "../chain/send_contract.ts";

/** How VerificationManager settled a target (its `Outcome` enum, generated from the contract). */
export { Outcome as AttestationOutcome } from "../abi/enums.ts";

/** Committee sizes the contract accepts (design doc: 10-20 validators). */
export const MIN_COMMITTEE = 10;
export const MAX_COMMITTEE = 20;

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

/** Draws and stores the committee of a spot-checked round (authorised coordinator). */
export function drawCommittee(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; candidates: Hex[] },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "drawCommittee",
    args: [
      params.jobId,
      params.round,
      params.candidates,
      BigInt(committeeSize(params.candidates.length)),
    ],
  });
}

/** The stored committee of a round (lower-case keys) and the end of its window (chain seconds). */
export async function readCommittee(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number },
): Promise<{ members: Hex[]; deadline: number }> {
  const [members, deadline] = await client.readContract({
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "committeeOf",
    args: [params.jobId, params.round],
  });
  return { members: members.map((m) => m.toLowerCase() as Hex), deadline: Number(deadline) };
}

/** Attests, as committee member `validatorNode` (sent by its operator), a recomputed result. */
export function attestResult(
  client: ArthaClient,
  params: {
    addresses: ArthaAddresses;
    jobId: Hex;
    round: number;
    validatorNode: Hex;
    targetNode: Hex;
    resultHash: Hex;
  },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "attest",
    args: [params.jobId, params.round, params.validatorNode, params.targetNode, params.resultHash],
  });
}

/** Settles a target's attestations: a strict majority against its commit slashes it 50%. */
export function settleAttestations(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; targetNode: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "settleAttestations",
    args: [params.jobId, params.round, params.targetNode],
  });
}
