/**
 * Chain verbs of DisputeGame: open a dispute against a node of one's task group, defend it,
 * reveal one bisection step, arbitrate an unresolved one, and read disputes back. Each write is
 * one transaction through sendContract, so a revert names the custom error (Dispute__WrongPhase…).
 *
 * @example
 * ```ts ignore
 * import { defendDispute, disputeEnds, DisputePhase, openDisputes } from "./dispute_chain.ts";
 * for (const d of await openDisputes(client, { addresses, nodePubkey })) {
 *   if (d.phase === DisputePhase.AwaitDefence && d.defender === nodePubkey) {
 *     await defendDispute(client, { addresses, disputeId: d.disputeId, ends: disputeEnds(mine, steps) });
 *   }
 * }
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { abis, type ArthaAddresses } from "../chain/contracts.ts";
import { sendContract, type SendResult } from "../chain/send_contract.ts";
import { stepsProof, stepsRoot } from "./steps_tree.ts";

/** Phases of a dispute (DisputeGame.Phase, generated from the contract). */
export { Phase as DisputePhase } from "../abi/enums.ts";
import { Phase as DisputePhase } from "../abi/enums.ts";

/** The committed digest triple of a round. */
export interface RoundDigests {
  lossDigest: Hex;
  gradientDigest: Hex;
  weightsDigest: Hex;
}

/** A party's openings (DisputeGame.Ends): its triple, steps root and proofs of s_0 and s_N. */
export interface DisputeEnds extends RoundDigests {
  stepsRoot: Hex;
  startDigest: Hex;
  startProof: Hex[];
  endProof: Hex[];
}

/** A dispute as the chain holds it, with the block it was opened in. */
export interface DisputeInfo {
  disputeId: bigint;
  openedIn: bigint;
  jobId: Hex;
  round: number;
  challenger: Hex;
  defender: Hex;
  phase: number;
  steps: number;
  lo: number;
  hi: number;
  /** s_lo, on which both sides agree. */
  agreed: Hex;
  challengerHi: Hex;
  defenderHi: Hex;
  challengerIn: boolean;
  defenderIn: boolean;
  /** End of the current move (or arbitration) window, in chain seconds. */
  deadline: bigint;
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

/** Opens a dispute (challenger's operator), paying the contract's bond; returns its id. */
export async function openDispute(
  client: ArthaClient,
  params: {
    addresses: ArthaAddresses;
    jobId: Hex;
    round: number;
    challenger: Hex;
    defender: Hex;
    ends: DisputeEnds;
  },
): Promise<SendResult & { disputeId: bigint }> {
  const { addresses: a, jobId, round, challenger, defender, ends } = params;
  const bond = await client.readContract({
    address: a.disputes,
    abi: abis.disputes,
    functionName: "disputeBond",
  });
  const sent = await sendContract(client, {
    address: a.disputes,
    abi: abis.disputes,
    functionName: "open",
    args: [jobId, round, challenger, defender, ends],
    value: bond,
  });
  const logs = await client.getContractEvents({
    address: a.disputes,
    abi: abis.disputes,
    eventName: "DisputeOpened",
    blockHash: sent.receipt.blockHash,
  });
  const log = logs.find((l) => l.transactionHash === sent.hash)!;
  return { ...sent, disputeId: log.args.disputeId! };
}

/** The defender's answer with its Ends (defender's operator, within the move window). */
export function defendDispute(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; disputeId: bigint; ends: DisputeEnds },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.disputes,
    abi: abis.disputes,
    functionName: "defend",
    args: [params.disputeId, params.ends],
  });
}

/** One bisection move: s_mid of one side with its opening (that side's operator). */
export function revealDispute(
  client: ArthaClient,
  params: {
    addresses: ArthaAddresses;
    disputeId: bigint;
    challengerSide: boolean;
    digest: Hex;
    proof: Hex[];
  },
): Promise<SendResult> {
  const { disputeId, challengerSide, digest, proof } = params;
  return sendContract(client, {
    address: params.addresses.disputes,
    abi: abis.disputes,
    functionName: "reveal",
    args: [disputeId, challengerSide, digest, proof],
  });
}

/** Decides an unresolved dispute with the recomputed s_hi (authorised arbiter). */
export function arbitrateDispute(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; disputeId: bigint; digest: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.disputes,
    abi: abis.disputes,
    functionName: "arbitrate",
    args: [params.disputeId, params.digest],
  });
}

/** One dispute read from chain. */
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
    agreed: d.agreed,
    challengerHi: d.challengerHi,
    defenderHi: d.defenderHi,
    challengerIn: d.challengerIn,
    defenderIn: d.defenderIn,
    deadline: d.deadline,
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
  const { addresses, jobId } = params;
  const phases = params.phases ?? [DisputePhase.AwaitDefence, DisputePhase.Bisecting];
  const node = params.nodePubkey?.toLowerCase();
  const logs = await client.getContractEvents({
    address: addresses.disputes,
    abi: abis.disputes,
    eventName: "DisputeOpened",
    args: jobId ? { jobId } : undefined,
    fromBlock: params.fromBlock ?? 0n,
    toBlock: params.toBlock,
  });
  const out: DisputeInfo[] = [];
  for (const l of logs) {
    const parties = [l.args.challenger!, l.args.defender!].map((p) => p.toLowerCase());
    if (node && !parties.includes(node)) continue;
    const d = await readDispute(client, {
      addresses,
      disputeId: l.args.disputeId!,
      openedIn: l.blockNumber,
    });
    if (phases.includes(d.phase)) out.push(d);
  }
  return out;
}
