/**
 * The worker's challenge responder: it keeps the update bytes and digest triple of every commit
 * the chain can still challenge (commit_retention.ts: per job, whatever the node does on other
 * jobs) and answers every open challenge against them with chunk openings. Answers are pure
 * functions of what was committed, so answering twice (after a crash) opens the same chunks.
 * Tests make dishonest answers by overriding `answerFor` (tests/verify/_cheating_worker.ts).
 *
 * @example
 * ```ts
 * import { ChallengeResponder } from "./responder.ts";
 * const ZERO = `0x${"00".repeat(32)}` as const;
 * const responder = new ChallengeResponder("0x01");
 * responder.remember({
 *   jobId: ZERO,
 *   round: 0,
 *   lossDigest: ZERO,
 *   gradientDigest: ZERO,
 *   weightsDigest: ZERO,
 *   updateBytes: new Uint8Array(4096),
 * });
 * const answer = responder.answerFor({
 *   challengeId: 1n,
 *   jobId: ZERO,
 *   nodePubkey: "0x01",
 *   round: 0,
 *   step: 0,
 *   count: 2,
 *   seed: ZERO,
 *   deadline: 0n,
 * });
 * console.assert(answer?.kind === "chunks" && answer.openings.chunks.length === 2);
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { ChainCallError } from "../chain/send_contract.ts";
import { firstBlockSince } from "../chain/first_block_since.ts";
import { getResponseWindow } from "../chain/get_response_window.ts";
import { type ChunkOpenings, openChunks } from "./chunk_openings.ts";
import { keepChallengeable, roundKey } from "./commit_retention.ts";
import {
  type ChallengeInfo,
  openChallenges,
  respondChallenge,
  respondStep,
} from "./challenge_chain.ts";
import { bytesToHex } from "../crypto/digest.ts";
import { merkleProof } from "../crypto/merkle.ts";
import { STEP_RECORD_BYTES } from "../round/local_training.ts";

/** What a node committed for a round, kept to answer challenges on it. */
export interface CommittedRound {
  jobId: Hex;
  round: number;
  lossDigest: Hex;
  gradientDigest: Hex;
  weightsDigest: Hex;
  /** The bytes the gradient digest is the Merkle root of. */
  updateBytes: Uint8Array;
  /** Per-step records, the leaves of lossDigest (answers step challenges). */
  stepRecords?: Uint8Array;
}

/** What a node sends for a challenge: chunk openings, or one step's record (count 0). */
export type ChallengeAnswer =
  | { kind: "chunks"; digests: CommittedRound; openings: ChunkOpenings }
  | { kind: "step"; digests: CommittedRound; record: Hex; proof: Hex[] };

/** Answers challenges for one node. */
export class ChallengeResponder {
  #rounds = new Map<string, CommittedRound>();
  /** Where the next look starts; undefined until the first look after a start. */
  #fromBlock?: bigint;
  /** Rounds with a challenge of this node open at the last look: never forgotten. */
  #challenged = new Set<string>();

  constructor(readonly nodePubkey: Hex) {}

  /** Remembers a commit, and forgets those of its job the chain can no longer challenge. */
  remember(c: CommittedRound): void {
    this.#rounds.set(roundKey(c.jobId, c.round), c);
    const kept = keepChallengeable([...this.#rounds.values()], c.jobId, this.#challenged);
    if (kept.length === this.#rounds.size) return;
    this.#rounds = new Map(kept.map((r) => [roundKey(r.jobId, r.round), r]));
  }

  /** The round keys with a challenge of this node open at the last look. */
  pinned(): ReadonlySet<string> {
    return this.#challenged;
  }

  /** The jobs it keeps commits of (lower-case ids). */
  jobs(): Hex[] {
    return [...new Set([...this.#rounds.values()].map((r) => r.jobId.toLowerCase() as Hex))];
  }

  /**
   * Forgets the commits of a job the chain opens no case on any more; refused (false) while a
   * challenge of the job was open at the last look, which still has to be answered.
   */
  forgetJob(jobId: Hex): boolean {
    const job = jobId.toLowerCase();
    if ([...this.#challenged].some((k) => k.startsWith(`${job}:`))) return false;
    for (const [k, r] of this.#rounds) if (r.jobId.toLowerCase() === job) this.#rounds.delete(k);
    return true;
  }

  /** The answer an honest node gives to `c`, or undefined if it kept nothing to answer with. */
  answerFor(c: ChallengeInfo): ChallengeAnswer | undefined {
    const r = this.#rounds.get(roundKey(c.jobId, c.round));
    if (!r) return undefined;
    if (c.count > 0) {
      return { kind: "chunks", digests: r, openings: openChunks(r.updateBytes, c.seed, c.count) };
    }
    if (!r.stepRecords) return undefined;
    return { kind: "step", digests: r, ...stepOpening(r.stepRecords, c.step) };
  }

  /** Answers every open challenge of the node; returns how many were answered. */
  async answer(client: ArthaClient, addresses: ArthaAddresses): Promise<number> {
    if (!addresses.verification) return 0;
    // From the oldest challenge still answerable at the last look, else the block after it: from
    // block 0 every time, an RPC capping a log query's range failed every look (most public ones
    // do), and no challenge was answered.
    const head = await client.getBlock();
    if (this.#fromBlock === undefined) {
      // After a start, from the first block a challenge could still be answered from: one
      // issued before the answer window is past its deadline.
      const window = await getResponseWindow(client, { addresses });
      this.#fromBlock = await firstBlockSince(client, head.timestamp - BigInt(window));
    }
    if (this.#fromBlock > head.number!) return 0; // no block since the last look
    const open = await openChallenges(client, {
      addresses,
      nodePubkey: this.nodePubkey,
      fromBlock: this.#fromBlock,
      toBlock: head.number!,
    });
    const live = open.filter((c) => c.deadline >= head.timestamp).map((c) => c.issuedIn);
    this.#fromBlock = live.length ? live.reduce((a, b) => a < b ? a : b) : head.number! + 1n;
    this.#challenged = new Set(open.map((c) => roundKey(c.jobId, c.round)));
    let answered = 0;
    for (const c of open) {
      let answer: ChallengeAnswer | undefined;
      try {
        answer = this.answerFor(c);
      } catch (e) {
        // A challenge no honest record answers (a step past the records kept, which the chain's
        // step count and the worker's task check rule out): it is skipped, and the node's other
        // challenges are still answered.
        if (!(e instanceof RangeError)) throw e;
        continue;
      }
      if (answer && await send(client, addresses, c.challengeId, answer)) answered++;
    }
    return answered;
  }
}

/** Sends one answer; false when it reverts (a wrong answer: the challenge stays open). */
async function send(
  client: ArthaClient,
  addresses: ArthaAddresses,
  challengeId: bigint,
  answer: ChallengeAnswer,
): Promise<boolean> {
  try {
    if (answer.kind === "step") {
      await respondStep(client, { addresses, challengeId, ...answer });
    } else {
      await respondChallenge(client, { addresses, challengeId, ...answer });
    }
    return true;
  } catch (e) {
    if (!(e instanceof ChainCallError)) throw e;
    return false;
  }
}

/** The record of `step` and its Merkle proof against the round's lossDigest. */
export function stepOpening(stepRecords: Uint8Array, step: number): { record: Hex; proof: Hex[] } {
  const start = step * STEP_RECORD_BYTES;
  if (start + STEP_RECORD_BYTES > stepRecords.length) {
    throw new RangeError(
      `Cannot open step ${step}: only ${stepRecords.length / STEP_RECORD_BYTES} steps`,
    );
  }
  return {
    record: bytesToHex(stepRecords.subarray(start, start + STEP_RECORD_BYTES)),
    proof: merkleProof(stepRecords, step, STEP_RECORD_BYTES),
  };
}
