/**
 * The worker's challenge responder: it keeps the update bytes and digest triple of its recent
 * commits and answers every open challenge against them with chunk openings. Answers are pure
 * functions of what was committed, so answering twice (after a crash) opens the same chunks.
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { ChainCallError } from "../chain/_send.ts";
import { type ChunkOpenings, openChunks } from "./chunk_openings.ts";
import {
  type ChallengeInfo,
  openChallenges,
  respondChallenge,
  respondStep,
} from "./challenge_chain.ts";
import { bytesToHex } from "../digest.ts";
import { merkleProof } from "../merkle.ts";
import { STEP_RECORD_BYTES } from "../local_training.ts";

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

/** How a responder answers (anything but "honest" is for adversarial tests). */
export type ResponderMode = "honest" | "silent" | "wrong-proof" | "replay";

/** Answers challenges for one node. */
export class ChallengeResponder {
  #rounds = new Map<string, CommittedRound>();
  #last?: { openings: ChunkOpenings; digests: CommittedRound };
  #fromBlock = 0n;

  constructor(readonly nodePubkey: Hex, readonly keep = 8) {}

  /** Remembers a commit (the oldest is forgotten beyond `keep`). */
  remember(c: CommittedRound): void {
    this.#rounds.set(`${c.jobId}:${c.round}`, c);
    while (this.#rounds.size > this.keep) {
      this.#rounds.delete(this.#rounds.keys().next().value!);
    }
  }

  /** The openings an honest node gives for a challenge, or undefined if the round is unknown. */
  openingsFor(c: ChallengeInfo): { openings: ChunkOpenings; digests: CommittedRound } | undefined {
    const r = this.#rounds.get(`${c.jobId.toLowerCase()}:${c.round}`);
    if (!r) return undefined;
    return { openings: openChunks(r.updateBytes, c.seed, c.count), digests: r };
  }

  /** Answers a step challenge from the kept records; false when it cannot (or, cheating, fails). */
  async #answerStep(
    client: ArthaClient,
    addresses: ArthaAddresses,
    c: ChallengeInfo,
    mode: ResponderMode,
  ): Promise<boolean> {
    const r = this.#rounds.get(`${c.jobId.toLowerCase()}:${c.round}`);
    if (!r?.stepRecords) return false;
    let { record, proof } = stepOpening(r.stepRecords, c.step);
    if (mode === "wrong-proof") {
      proof = proof.length ? [flip(proof[0]!), ...proof.slice(1)] : [flip(ZERO)];
    }
    try {
      await respondStep(client, {
        addresses,
        challengeId: c.challengeId,
        digests: r,
        record,
        proof,
      });
      return true;
    } catch (e) {
      if (!(e instanceof ChainCallError)) throw e;
      return false;
    }
  }

  /** Answers every open challenge of the node; returns how many were answered. */
  async answer(
    client: ArthaClient,
    addresses: ArthaAddresses,
    mode: ResponderMode = "honest",
  ): Promise<number> {
    if (mode === "silent" || !addresses.verification) return 0;
    const open = await openChallenges(client, {
      addresses,
      nodePubkey: this.nodePubkey,
      fromBlock: this.#fromBlock,
    });
    let answered = 0;
    for (const c of open) {
      if (c.count === 0) {
        if (await this.#answerStep(client, addresses, c, mode)) answered++;
        continue;
      }
      const honest = this.openingsFor(c);
      if (!honest) continue;
      let { openings, digests } = honest;
      if (mode === "wrong-proof") {
        const proofs = openings.proofs.map((p) => p.map((s, k) => k === 0 ? flip(s) : s));
        openings = { ...openings, proofs: proofs.map((p) => p.length ? p : [flip(ZERO)]) };
      } else if (mode === "replay" && this.#last) {
        ({ openings, digests } = this.#last);
      }
      this.#last ??= honest;
      try {
        await respondChallenge(client, {
          addresses,
          challengeId: c.challengeId,
          digests,
          openings,
        });
        answered++;
      } catch (e) {
        // A cheating answer reverts on chain; the challenge stays open and times out.
        if (!(e instanceof ChainCallError)) throw e;
      }
    }
    return answered;
  }
}

const ZERO: Hex = `0x${"00".repeat(32)}`;

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

function flip(h: Hex): Hex {
  const last = parseInt(h.slice(-2), 16) ^ 1;
  return `${h.slice(0, -2)}${last.toString(16).padStart(2, "0")}` as Hex;
}
