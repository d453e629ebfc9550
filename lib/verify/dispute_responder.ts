/**
 * The worker's dispute responder: it keeps the digest triple and step digests s_0..s_N of its
 * recent commits and plays its side of every DisputeGame dispute it is a party to — the defence
 * (its Ends) when it is the defender, then its s_mid with a proof at each bisection step. Moves
 * are pure functions of what was committed and of the chain's state, so answering twice, or
 * after a restart, sends the same moves or none.
 *
 * @example
 * ```ts ignore
 * import { DisputeResponder } from "./dispute_responder.ts";
 * const disputes = new DisputeResponder(nodePubkey);
 * disputes.remember({ jobId, round, lossDigest, gradientDigest, weightsDigest, stepDigests });
 * await disputes.answer(client, addresses); // every tick: defends and bisects by itself
 * ```
 */
import type { Hex } from "viem";
import { rescanFrom } from "../chain/log_ranges.ts";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { ChainCallError } from "../chain/send_contract.ts";
import { keepChallengeable, roundKey } from "./commit_retention.ts";
import { stepsProof } from "./steps_tree.ts";
import {
  defendDispute,
  type DisputeEnds,
  disputeEnds,
  type DisputeInfo,
  DisputePhase,
  midpointOf,
  openDisputes,
  readDispute,
  revealDispute,
  type RoundDigests,
} from "./dispute_chain.ts";

/** What a node committed for a round, kept to play disputes on it. */
export interface DisputedRound extends RoundDigests {
  jobId: Hex;
  round: number;
  /** s_0..s_N: the weights digest before the first step and after each step. */
  stepDigests: Hex[];
}

/** The next move of one side. */
export type DisputeMove =
  | { kind: "defend"; ends: DisputeEnds }
  | { kind: "reveal"; challengerSide: boolean; digest: Hex; proof: Hex[] };

/** Reverts that mean another move got there first (or the window ran out): not an error. */
const RACES = ["Dispute__WrongPhase", "Dispute__AlreadyRevealed", "Dispute__WindowClosed"];

/** Plays disputes for one node. */
export class DisputeResponder {
  readonly nodePubkey: Hex;
  #rounds = new Map<string, DisputedRound>();
  /** Rounds of this node's disputes still open at the last look: never forgotten. */
  #disputed = new Set<string>();
  /** The block the oldest dispute that may still need a move was opened in. */
  #fromBlock: bigint;

  constructor(nodePubkey: Hex, options: { fromBlock?: bigint } = {}) {
    this.nodePubkey = nodePubkey.toLowerCase() as Hex;
    this.#fromBlock = options.fromBlock ?? 0n;
  }

  /**
   * Remembers a commit, forgetting those of its job the chain can no longer challenge (the same
   * rule as the challenge responder's). Returns false, keeping nothing, when s_N is not the
   * committed weightsDigest: such a result cannot be defended.
   */
  remember(r: DisputedRound): boolean {
    if (r.stepDigests.length < 2 || r.stepDigests.at(-1) !== r.weightsDigest) return false;
    this.#rounds.set(roundKey(r.jobId, r.round), r);
    const kept = keepChallengeable([...this.#rounds.values()], r.jobId, this.#disputed);
    if (kept.length < this.#rounds.size) {
      this.#rounds = new Map(kept.map((k) => [roundKey(k.jobId, k.round), k]));
    }
    return true;
  }

  /** The round keys of this node's disputes still open at the last look. */
  pinned(): ReadonlySet<string> {
    return this.#disputed;
  }

  /** Forgets the commits of a job the chain opens no case on any more and has none open. */
  forgetJob(jobId: Hex): void {
    const job = jobId.toLowerCase();
    for (const [k, r] of this.#rounds) if (r.jobId.toLowerCase() === job) this.#rounds.delete(k);
  }

  /** This node's next move in `d`, or undefined when it has none (not its turn, not its round). */
  moveFor(d: DisputeInfo): DisputeMove | undefined {
    const challengerSide = d.challenger.toLowerCase() === this.nodePubkey;
    if (!challengerSide && d.defender.toLowerCase() !== this.nodePubkey) return undefined;
    const r = this.#rounds.get(roundKey(d.jobId, d.round));
    if (!r || r.stepDigests.length !== d.steps + 1) return undefined;
    if (d.phase === DisputePhase.AwaitDefence) {
      return challengerSide ? undefined : { kind: "defend", ends: disputeEnds(r, r.stepDigests) };
    }
    if (d.phase !== DisputePhase.Bisecting) return undefined;
    if (challengerSide ? d.challengerIn : d.defenderIn) return undefined;
    const mid = midpointOf(d);
    return {
      kind: "reveal",
      challengerSide,
      digest: r.stepDigests[mid]!,
      proof: stepsProof(r.stepDigests, mid),
    };
  }

  /** Makes every move this node owes in its open disputes; returns how many it sent. */
  async answer(client: ArthaClient, addresses: ArthaAddresses): Promise<number> {
    if (!addresses.disputes) return 0;
    const head = await client.getBlock();
    // No block since the last look: an empty range, which anvil refuses.
    if (this.#fromBlock > head.number!) return 0;
    if (this.#rounds.size === 0) {
      // Nothing committed to defend: a dispute of a later commit opens after it, so the next
      // look starts here (from block 0 each time, an RPC capping a log query's span failed).
      this.#fromBlock = rescanFrom(head.number!, 0n);
      return 0;
    }
    const open = await openDisputes(client, {
      addresses,
      nodePubkey: this.nodePubkey,
      fromBlock: this.#fromBlock,
      toBlock: head.number,
    });
    let sent = 0;
    let oldest: bigint | undefined;
    this.#disputed = new Set(open.map((d) => roundKey(d.jobId, d.round)));
    for (let d of open) {
      if (d.deadline < head.timestamp) continue; // no move is possible any more
      if (oldest === undefined || d.openedIn < oldest) oldest = d.openedIn;
      // When the other side already moved, each move halves the interval and the next one is
      // due at once; one defence plus one reveal per level bounds the loop.
      for (let i = 0; i <= d.steps + 1; i++) {
        const move = this.moveFor(d);
        if (!move || !(await this.#send(client, addresses, d.disputeId, move))) break;
        sent++;
        d = await readDispute(client, { addresses, disputeId: d.disputeId, openedIn: d.openedIn });
      }
    }
    const again = rescanFrom(head.number!, 0n);
    this.#fromBlock = oldest !== undefined && oldest < again ? oldest : again;
    return sent;
  }

  /** Sends one move; false when it lost a race (the chain moved on without it). */
  async #send(
    client: ArthaClient,
    addresses: ArthaAddresses,
    disputeId: bigint,
    move: DisputeMove,
  ): Promise<boolean> {
    try {
      if (move.kind === "defend") {
        await defendDispute(client, { addresses, disputeId, ends: move.ends });
      } else {
        await revealDispute(client, { addresses, disputeId, ...move });
      }
      return true;
    } catch (e) {
      if (e instanceof ChainCallError && RACES.includes(e.errorName ?? "")) return false;
      throw e;
    }
  }
}
