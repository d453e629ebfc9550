/**
 * Per-step training proofs (design doc, "Committing Training Results to Blockchain"): what a node signs with its Ed25519 key
 * every N steps, and the Merkle root of a round's proofs that goes on chain in one commit.
 * A proof is EIP-712 typed data in the ArthaTrain domain of the deployment's ProofOfCompute
 * (lib/crypto/domain.ts), so its hash equals ProofOfCompute.hashTrainProof and a proof signed for one
 * chain or deployment verifies for no other.
 *
 * @example
 * ```ts
 * import { generateNodeKey } from "../crypto/keys.ts";
 * import { arthaDomain } from "../crypto/domain.ts";
 * import { proofsRoot, signTrainProof, verifyTrainProof } from "./train_proof.ts";
 * const key = generateNodeKey();
 * const domain = arthaDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
 * const zero = `0x${"00".repeat(32)}` as const;
 * const signed = signTrainProof(key, {
 *   jobId: zero, step: 1n, lossDigest: zero, gradientDigest: zero, weightsDigest: zero,
 *   timestamp: 1n, nodePubkey: key.publicKeyHex,
 * }, domain);
 * console.assert(verifyTrainProof(signed, domain));
 * console.assert(proofsRoot([signed], domain).length === 66);
 * ```
 */
import type { Hex } from "viem";
import { type NodeKey, signBytes, verifyBytes } from "../crypto/keys.ts";
import { concatBytes, hexToBytes } from "../crypto/digest.ts";
import { merkleRoot } from "../crypto/merkle.ts";
import { type ArthaDomain, typedDigest } from "../crypto/domain.ts";

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

/** The fields of TrainProof (ProofOfCompute.TRAIN_PROOF_TYPEHASH). */
const TRAIN_PROOF_FIELDS = [
  { name: "jobId", type: "bytes32" },
  { name: "step", type: "uint256" },
  { name: "lossDigest", type: "bytes32" },
  { name: "gradientDigest", type: "bytes32" },
  { name: "weightsDigest", type: "bytes32" },
  { name: "timestamp", type: "uint64" },
  { name: "nodePubkey", type: "bytes32" },
] as const;

/** The EIP-712 digest of a proof, as ProofOfCompute.hashTrainProof computes it. */
export function hashTrainProof(proof: TrainProof, domain: ArthaDomain): Hex {
  const { jobId, step, lossDigest, gradientDigest, weightsDigest, timestamp, nodePubkey } = proof;
  return typedDigest(domain, "TrainProof", TRAIN_PROOF_FIELDS, {
    jobId,
    step,
    lossDigest,
    gradientDigest,
    weightsDigest,
    timestamp,
    nodePubkey,
  });
}

/** Signs a proof with the node key; the proof's nodePubkey must be that key. */
export function signTrainProof(
  key: NodeKey,
  proof: TrainProof,
  domain: ArthaDomain,
): SignedTrainProof {
  if (proof.nodePubkey.toLowerCase() !== key.publicKeyHex.toLowerCase()) {
    throw new TypeError("Cannot sign train proof: nodePubkey is not the signing key");
  }
  return { ...proof, signature: signBytes(key, hexToBytes(hashTrainProof(proof, domain))) };
}

/** Whether the proof carries a valid signature of its own nodePubkey in `domain`. */
export function verifyTrainProof(proof: SignedTrainProof, domain: ArthaDomain): boolean {
  return verifyBytes(
    proof.nodePubkey,
    hexToBytes(hashTrainProof(proof, domain)),
    proof.signature,
  );
}

/** Merkle root (lib/crypto/merkle.ts scheme, one 32-byte leaf per proof) of a round's proof hashes. */
export function proofsRoot(proofs: TrainProof[], domain: ArthaDomain): Hex {
  if (proofs.length === 0) throw new RangeError("Cannot build proofs root: no proofs");
  return merkleRoot(
    concatBytes(...proofs.map((p) => hexToBytes(hashTrainProof(p, domain)))),
    32,
  );
}
