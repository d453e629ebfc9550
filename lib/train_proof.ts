/**
 * Per-step training proofs (design doc, section 1.2): what a node signs with its Ed25519 key
 * every N steps, and the Merkle root of a round's proofs that goes on chain in one commit.
 * The hash equals ProofOfCompute.hashTrainProof, so a validator can open any proof against
 * the committed root.
 *
 * @example
 * ```ts
 * import { generateNodeKey } from "./keys.ts";
 * import { proofsRoot, signTrainProof, verifyTrainProof } from "./train_proof.ts";
 * const key = generateNodeKey();
 * const zero = `0x${"00".repeat(32)}` as const;
 * const signed = signTrainProof(key, {
 *   jobId: zero, step: 1n, lossDigest: zero, gradientDigest: zero, weightsDigest: zero,
 *   timestamp: 1n, nodePubkey: key.publicKeyHex,
 * });
 * console.assert(verifyTrainProof(signed));
 * console.assert(proofsRoot([signed]).length === 66);
 * ```
 */
import { encodeAbiParameters, keccak256 } from "viem";
import type { Hex } from "viem";
import { type NodeKey, signBytes, verifyBytes } from "./keys.ts";
import { concatBytes, hexToBytes } from "./digest.ts";
import { merkleRoot } from "./merkle.ts";

export interface TrainProof {
  jobId: Hex;
  step: bigint;
  lossDigest: Hex;
  gradientDigest: Hex;
  weightsDigest: Hex;
  timestamp: bigint;
  nodePubkey: Hex;
}

export interface SignedTrainProof extends TrainProof {
  /** Ed25519 signature of the node over hashTrainProof(proof). */
  signature: Hex;
}

const TRAIN_PROOF_TUPLE = [{
  type: "tuple",
  components: [
    { name: "jobId", type: "bytes32" },
    { name: "step", type: "uint256" },
    { name: "lossDigest", type: "bytes32" },
    { name: "gradientDigest", type: "bytes32" },
    { name: "weightsDigest", type: "bytes32" },
    { name: "timestamp", type: "uint64" },
    { name: "nodePubkey", type: "bytes32" },
  ],
}] as const;

/** keccak256(abi.encode(proof)), as ProofOfCompute.hashTrainProof computes it. */
export function hashTrainProof(proof: TrainProof): Hex {
  return keccak256(encodeAbiParameters(TRAIN_PROOF_TUPLE, [proof]));
}

/** Signs a proof with the node key; the proof's nodePubkey must be that key. */
export function signTrainProof(key: NodeKey, proof: TrainProof): SignedTrainProof {
  if (proof.nodePubkey.toLowerCase() !== key.publicKeyHex.toLowerCase()) {
    throw new TypeError("Cannot sign train proof: nodePubkey is not the signing key");
  }
  return { ...proof, signature: signBytes(key, hexToBytes(hashTrainProof(proof))) };
}

/** Whether the proof carries a valid signature of its own nodePubkey. */
export function verifyTrainProof(proof: SignedTrainProof): boolean {
  return verifyBytes(proof.nodePubkey, hexToBytes(hashTrainProof(proof)), proof.signature);
}

/** Merkle root (lib/merkle.ts scheme, one 32-byte leaf per proof) of a round's proof hashes. */
export function proofsRoot(proofs: TrainProof[]): Hex {
  if (proofs.length === 0) throw new RangeError("Cannot build proofs root: no proofs");
  return merkleRoot(concatBytes(...proofs.map((p) => hexToBytes(hashTrainProof(p)))), 32);
}
