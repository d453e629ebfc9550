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
import { type ChallengeInfo, openChallenges, respondChallenge } from "./challenge_chain.ts";

/** What a node committed for a round, kept to answer challenges on it. */
export interface CommittedRound {
  jobId: Hex;
  round: number;
  lossDigest: Hex;
  gradientDigest: Hex;
  weightsDigest: Hex;
  /** The bytes the gradient digest is the Merkle root of. */
  updateBytes: Uint8Array;
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

function flip(h: Hex): Hex {
  const last = parseInt(h.slice(-2), 16) ^ 1;
  return `${h.slice(0, -2)}${last.toString(16).padStart(2, "0")}` as Hex;
}
