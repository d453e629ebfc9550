/**
 * The worker's challenge responder: it keeps the digest triple of every commit the chain can
 * still challenge (commit_retention.ts: per job, whatever the node does on other jobs), with the
 * update bytes in memory or a loader of them from the worker's state, and answers every open
 * challenge against them with chunk openings. Answers are pure functions of what was committed,
 * so answering twice (after a crash) opens the same chunks. Tests make dishonest answers by
 * overriding `answerFor` (tests/verify/_cheating_worker.ts).
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
import { rescanFrom } from "../chain/log_ranges.ts";
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
  /** The bytes the gradient digest is the Merkle root of, held in memory (a worker that keeps no
   * state); with {@link loadUpdate} they need not be. */
  updateBytes?: Uint8Array;
  /**
   * Reads those bytes from where the worker keeps them (undefined: not kept), only when a chunk
   * challenge of the round is answered. Found in the worker audit: every challengeable round's
   * bytes held in memory (the current one and 16 more) were 19 GiB for a 303M-parameter fp32
   * job, and a restart read them all back: out of memory at every start.
   */
  loadUpdate?: () => Promise<Uint8Array | undefined>;
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
  /** The bytes of the round being answered, loaded for it (one round's at a time). */
  #loaded?: { key: string; bytes: Uint8Array };

  constructor(readonly nodePubkey: Hex) {}

  /** Remembers a commit, and forgets those of its job the chain can no longer challenge. */
  remember(c: CommittedRound): void {
    this.#rounds.set(roundKey(c.jobId, c.round), c);
    const kept = keepChallengeable([...this.#rounds.values()], c.jobId, this.#challenged);
    if (kept.length === this.#rounds.size) return;
    this.#rounds = new Map(kept.map((r) => [roundKey(r.jobId, r.round), r]));
  }

  /** Update bytes it holds in memory: those kept without a loader, and a round's being answered. */
  heldUpdateBytes(): number {
    let held = this.#loaded?.bytes.length ?? 0;
    for (const r of this.#rounds.values()) held += r.updateBytes?.length ?? 0;
    return held;
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

  /**
   * The answer an honest node gives to `c`, or undefined if it kept nothing to answer with. A
   * round kept with a loader only is answered within {@link answer}, which loads its bytes first.
   */
  answerFor(c: ChallengeInfo): ChallengeAnswer | undefined {
    const key = roundKey(c.jobId, c.round);
    const r = this.#rounds.get(key);
    if (!r) return undefined;
    if (c.count > 0) {
      const bytes = r.updateBytes ?? (this.#loaded?.key === key ? this.#loaded.bytes : undefined);
      if (!bytes?.length) return undefined;
      return { kind: "chunks", digests: r, openings: openChunks(bytes, c.seed, c.count) };
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
    this.#fromBlock = live.reduce((a, b) => a < b ? a : b, rescanFrom(head.number!, 0n));
    this.#challenged = new Set(open.map((c) => roundKey(c.jobId, c.round)));
    let answered = 0;
    const failures: unknown[] = [];
    try {
      for (const c of open) {
        let answer: ChallengeAnswer | undefined;
        try {
          if (c.count > 0) await this.#load(c);
          answer = this.answerFor(c);
        } catch (e) {
          // A challenge no honest record answers (a step past the records kept, which the chain's
          // step count and the worker's task check rule out) is skipped; a kept update that could
          // not be read fails the look once the node's other challenges are answered.
          if (!(e instanceof RangeError)) failures.push(e);
          continue;
        }
        if (answer && await send(client, addresses, c.challengeId, answer)) answered++;
      }
    } finally {
      this.#loaded = undefined; // a model's worth of bytes is not held until the next look
    }
    if (failures.length) throw failures[0];
    return answered;
  }

  /** Loads the update bytes of `c`'s round, when it was kept with a loader only. */
  async #load(c: ChallengeInfo): Promise<void> {
    const key = roundKey(c.jobId, c.round);
    const r = this.#rounds.get(key);
    if (!r || r.updateBytes || !r.loadUpdate || this.#loaded?.key === key) return;
    this.#loaded = undefined; // never two rounds' bytes at once
    const bytes = await r.loadUpdate();
    if (bytes) this.#loaded = { key, bytes };
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
