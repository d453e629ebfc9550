/**
 * The envelope a worker posts with its round update: what it trained, where the update lives,
 * the digests it committed on chain, its signed per-step proofs, and an Ed25519 signature over
 * all of it by the node key (EIP-712 UpdateEnvelope in the deployment's ProofOfCompute domain, so
 * an envelope signed for one deployment or chain verifies in no other). Aggregators refuse an
 * envelope whose signature, proofs, proofs root or update digest does not verify.
 *
 * @example
 * ```ts
 * import { generateNodeKey } from "../crypto/keys.ts";
 * import { signEnvelope, verifyEnvelopeSignature } from "./update_envelope.ts";
 * import { UNCHECKED_DOMAIN as domain } from "../crypto/domain.ts";
 * const key = generateNodeKey();
 * const z = `0x${"00".repeat(32)}` as const;
 * const env = signEnvelope(key, {
 *   jobId: z, round: 0, nodePubkey: key.publicKeyHex, updateCid: "bafy", samples: 8, steps: 1,
 *   meanLoss: 5, lossDigest: z, gradientDigest: z, weightsDigest: z, proofsRoot: z, proofs: [],
 * }, domain);
 * console.assert(verifyEnvelopeSignature(env, domain));
 * ```
 */
import type { Hex } from "viem";
import { type ArthaDomain, typedDigest } from "../crypto/domain.ts";
import { type NodeKey, signBytes, verifyBytes } from "../crypto/keys.ts";
import { hexToBytes } from "../crypto/digest.ts";
import type { SignedTrainProof } from "./train_proof.ts";
import type { LocalResult } from "./local_training.ts";
import { MAGIC, readHeader } from "../compress/codec.ts";
import { decodePayload } from "../compress/payload.ts";
import { decodeCheckpoint } from "../model/checkpoint.ts";
import { merkleRoot } from "../crypto/merkle.ts";

export interface UpdateEnvelope {
  jobId: Hex;
  round: number;
  nodePubkey: Hex;
  updateCid: string;
  samples: number;
  steps: number;
  meanLoss: number;
  lossDigest: Hex;
  gradientDigest: Hex;
  weightsDigest: Hex;
  proofsRoot: Hex;
  proofs: SignedTrainProof[];
}

export interface SignedUpdateEnvelope extends UpdateEnvelope {
  signature: Hex;
}

/** The envelope of a node's local result, stored under `updateCid` (sign with signEnvelope). */
export function envelopeOf(
  result: Pick<
    LocalResult,
    | "samples"
    | "steps"
    | "meanLoss"
    | "lossDigest"
    | "gradientDigest"
    | "weightsDigest"
    | "proofsRoot"
    | "proofs"
  >,
  at: { jobId: Hex; round: number; nodePubkey: Hex; updateCid: string },
): UpdateEnvelope {
  const { samples, steps, meanLoss, lossDigest, gradientDigest, weightsDigest } = result;
  const { proofsRoot, proofs } = result;
  return {
    ...at,
    samples,
    steps,
    meanLoss,
    lossDigest,
    gradientDigest,
    weightsDigest,
    proofsRoot,
    proofs,
  };
}

const ENVELOPE_FIELDS = [
  { name: "jobId", type: "bytes32" },
  { name: "round", type: "uint32" },
  { name: "nodePubkey", type: "bytes32" },
  { name: "updateCid", type: "string" },
  { name: "samples", type: "uint64" },
  { name: "steps", type: "uint64" },
  { name: "meanLoss", type: "string" },
  { name: "lossDigest", type: "bytes32" },
  { name: "gradientDigest", type: "bytes32" },
  { name: "weightsDigest", type: "bytes32" },
  { name: "proofsRoot", type: "bytes32" },
] as const;

/** The EIP-712 digest the node signs in `domain` (proofs are covered through proofsRoot). */
export function envelopeDigest(e: UpdateEnvelope, domain: ArthaDomain): Hex {
  return typedDigest(domain, "UpdateEnvelope", ENVELOPE_FIELDS, {
    jobId: e.jobId,
    round: e.round,
    nodePubkey: e.nodePubkey,
    updateCid: e.updateCid,
    samples: BigInt(e.samples),
    steps: BigInt(e.steps),
    meanLoss: e.meanLoss.toString(),
    lossDigest: e.lossDigest,
    gradientDigest: e.gradientDigest,
    weightsDigest: e.weightsDigest,
    proofsRoot: e.proofsRoot,
  });
}

/** Signs an envelope with the node key in `domain` (the deployment's ProofOfCompute). */
export function signEnvelope(
  key: NodeKey,
  e: UpdateEnvelope,
  domain: ArthaDomain,
): SignedUpdateEnvelope {
  if (e.nodePubkey.toLowerCase() !== key.publicKeyHex.toLowerCase()) {
    throw new TypeError("Cannot sign update: nodePubkey is not the signing key");
  }
  return { ...e, signature: signBytes(key, hexToBytes(envelopeDigest(e, domain))) };
}

/** Whether the envelope's signature is the node's in `domain`. */
export function verifyEnvelopeSignature(e: SignedUpdateEnvelope, domain: ArthaDomain): boolean {
  return verifyBytes(e.nodePubkey, hexToBytes(envelopeDigest(e, domain)), e.signature);
}

/** JSON form (bigints of proofs as decimal strings). */
export function envelopeToJson(e: SignedUpdateEnvelope): string {
  return JSON.stringify(e, (_k, v) => typeof v === "bigint" ? v.toString() : v);
}

/** Reads the proofs of a JSON envelope back (step and timestamp to bigint). */
export function proofsFromJson(raw: unknown): SignedTrainProof[] {
  if (!Array.isArray(raw)) throw new TypeError("Cannot read proofs: expected an array");
  return raw.map((p, i) => {
    if (!p || typeof p !== "object") throw new TypeError(`Cannot read proof ${i}: not an object`);
    const o = p as Record<string, unknown>;
    const hex32 = (k: string) => {
      const v = o[k];
      if (typeof v !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(v)) {
        throw new TypeError(`Cannot read proof ${i}: ${k} is not 32-byte hex`);
      }
      return v as Hex;
    };
    const int = (k: string) => {
      const v = o[k];
      if (typeof v !== "string" && typeof v !== "number") {
        throw new TypeError(`Cannot read proof ${i}: ${k}`);
      }
      return BigInt(v);
    };
    const sig = o.signature;
    if (typeof sig !== "string" || !/^0x[0-9a-fA-F]{128}$/.test(sig)) {
      throw new TypeError(`Cannot read proof ${i}: signature is not 64-byte hex`);
    }
    return {
      jobId: hex32("jobId"),
      step: int("step"),
      lossDigest: hex32("lossDigest"),
      gradientDigest: hex32("gradientDigest"),
      weightsDigest: hex32("weightsDigest"),
      timestamp: int("timestamp"),
      nodePubkey: hex32("nodePubkey"),
      signature: sig as Hex,
    };
  });
}

/**
 * Decodes the bytes of an update as stored in SVDB: a lib/compress payload ("ACZ1" header,
 * digest over the payload as sent) or an fp32 safetensors delta (digest over the f32 values).
 * Returns the delta, the Merkle root its gradientDigest must equal, and the payload's codec id
 * (lib/compress CODEC_ID; undefined for safetensors).
 */
export function decodeUpdateBytes(
  bytes: Uint8Array,
  length: number,
): { delta: Float32Array; digest: Hex; codecId?: number } {
  const isPayload = bytes.length >= MAGIC.length && MAGIC.every((b, i) => bytes[i] === b);
  if (isPayload) {
    const delta = decodePayload(bytes, length);
    return { delta, digest: merkleRoot(bytes), codecId: readHeader(bytes).codecId };
  }
  const delta = decodeCheckpoint(bytes).weights;
  if (delta.length !== length) {
    throw new RangeError(`Cannot decode update: ${delta.length} values, the model has ${length}`);
  }
  return {
    delta,
    digest: merkleRoot(new Uint8Array(delta.buffer, delta.byteOffset, delta.byteLength)),
  };
}
