/**
 * A dishonest worker for adversarial tests: a production Worker whose steps are overridden by
 * the hooks in its `cheat` object (empty: it behaves exactly like an honest Worker). Tests set
 * hooks at any time, e.g. `node.cheat.tamper = ...` before the round it should apply to.
 */
import type { Hex } from "viem";
import { Worker, type WorkerOptions } from "../../lib/worker/worker.ts";
import type { ClusterMean } from "../../lib/worker/cluster.ts";
import type { TrainedRound } from "../../lib/worker/train.ts";
import type { ClusterTask, TrainTask, ValidationTask } from "../../lib/worker/task.ts";
import type { LocalResult } from "../../lib/round/local_training.ts";
import { type NodeKey, signBytes } from "../../lib/crypto/keys.ts";
import { hexToBytes } from "../../lib/crypto/digest.ts";
import {
  envelopeDigest,
  type SignedUpdateEnvelope,
  type UpdateEnvelope,
} from "../../lib/round/update_envelope.ts";
import { type ChallengeAnswer, ChallengeResponder } from "../../lib/verify/responder.ts";
import type { ChallengeInfo } from "../../lib/verify/challenge_chain.ts";
import type { ArthaClient } from "../../lib/chain/client.ts";
import type { ArthaAddresses } from "../../lib/chain/contracts.ts";

/** How a dishonest node answers challenges. */
export type ResponderMode = "honest" | "silent" | "wrong-proof" | "replay";

/** How a dishonest worker deviates. */
export interface WorkerCheat {
  /** Replaces the honest result before it is committed (lazy, noise, scaled, copycat). */
  tamper?: (
    result: LocalResult,
    task: { jobId: Hex; round: number; global: Float32Array },
  ) => LocalResult;
  /** Signs the envelope with this key instead of the node's (a forged signature). */
  signWith?: NodeKey;
  /** How challenges are answered (default honest). */
  challenges?: ResponderMode;
  /** Replaces the cluster mean a cluster aggregator posts (a fake aggregate). */
  clusterMean?: (mean: Float32Array) => Float32Array;
  /** Replaces the result hash a committee member attests (a lying validator). */
  attest?: (honestHash: Hex) => Hex;
}

/** A Worker that cheats as its `cheat` hooks say. */
export class CheatingWorker extends Worker {
  readonly cheat: WorkerCheat;

  constructor(options: WorkerOptions, cheat: WorkerCheat = {}) {
    super(options);
    this.cheat = cheat;
    this.challenges = new CheatingResponder(this.nodePubkey, cheat);
  }

  protected override async train(task: TrainTask): Promise<TrainedRound> {
    const honest = await super.train(task);
    const { jobId, round } = task;
    const result = this.cheat.tamper?.(honest.result, { jobId, round, global: honest.global });
    return result ? { ...honest, result } : honest;
  }

  protected override signUpdate(update: UpdateEnvelope): SignedUpdateEnvelope {
    const forger = this.cheat.signWith;
    if (!forger) return super.signUpdate(update);
    return {
      ...update,
      signature: signBytes(forger, hexToBytes(envelopeDigest(update, this.domain))),
    };
  }

  protected override async clusterMean(
    task: ClusterTask,
    digests: ReadonlyMap<string, Hex>,
  ): Promise<ClusterMean> {
    const honest = await super.clusterMean(task, digests);
    const fake = this.cheat.clusterMean;
    return fake ? { ...honest, delta: fake(honest.delta) } : honest;
  }

  protected override async recompute(task: ValidationTask): Promise<Hex> {
    const honest = await super.recompute(task);
    return this.cheat.attest?.(honest) ?? honest;
  }
}

const ZERO: Hex = `0x${"00".repeat(32)}`;

/** Answers challenges as `cheat.challenges` says: not at all, with a broken proof, or replayed. */
export class CheatingResponder extends ChallengeResponder {
  #cheat: WorkerCheat;
  /** The first chunk answer it gave, replayed to later challenges. */
  #last?: ChallengeAnswer;

  constructor(nodePubkey: Hex, cheat: WorkerCheat) {
    super(nodePubkey);
    this.#cheat = cheat;
  }

  override answer(client: ArthaClient, addresses: ArthaAddresses): Promise<number> {
    if (this.#cheat.challenges === "silent") return Promise.resolve(0);
    return super.answer(client, addresses);
  }

  override answerFor(c: ChallengeInfo): ChallengeAnswer | undefined {
    const honest = super.answerFor(c);
    if (!honest) return undefined;
    const mode = this.#cheat.challenges ?? "honest";
    if (honest.kind === "step") {
      return mode === "wrong-proof" ? { ...honest, proof: flipFirst(honest.proof) } : honest;
    }
    let answer: ChallengeAnswer = honest;
    if (mode === "wrong-proof") {
      const proofs = honest.openings.proofs.map((p) => flipFirst(p));
      answer = { ...honest, openings: { ...honest.openings, proofs } };
    } else if (mode === "replay" && this.#last) {
      answer = this.#last;
    }
    this.#last ??= honest;
    return answer;
  }
}

/** A proof that no longer verifies: its first sibling with one bit flipped. */
function flipFirst(proof: Hex[]): Hex[] {
  return proof.length ? [flip(proof[0]!), ...proof.slice(1)] : [flip(ZERO)];
}

function flip(h: Hex): Hex {
  const last = parseInt(h.slice(-2), 16) ^ 1;
  return `${h.slice(0, -2)}${last.toString(16).padStart(2, "0")}` as Hex;
}
