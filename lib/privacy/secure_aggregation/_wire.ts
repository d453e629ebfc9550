/**
 * Byte layouts the parties must agree on: signed payloads, AEAD associated data and the
 * share plaintext. Every signed or authenticated string starts with a domain label and binds
 * the round context, so nothing signed or sealed for one purpose or round is accepted in
 * another.
 *
 * @module
 */
import { concatBytes, digestHex, type Hex, hexToBytes } from "../../crypto/digest.ts";
import { NONCE_BYTES, TAG_BYTES } from "../../crypto/aead.ts";
import { SHARE_BYTES } from "./shamir.ts";

const encoder = new TextEncoder();

/** Domain labels (bump v1 with any layout change). */
export const LABEL = {
  advertise: "ArthaTrain:secagg:v1:advertise",
  consistency: "ArthaTrain:secagg:v1:consistency",
  share: "ArthaTrain:secagg:v1:share",
  shareKey: "ArthaTrain:secagg:v1:share-key",
  mask: "ArthaTrain:secagg:v1:mask",
  shareDigest: "ArthaTrain:secagg:v1:share-digest",
  selfMaskCommit: "ArthaTrain:secagg:v1:self-mask-commit",
} as const;

/** Bytes of a sealed share: nonce, two shares, tag. */
export const SHARE_CIPHERTEXT_BYTES = NONCE_BYTES + 2 * SHARE_BYTES + TAG_BYTES;

/** Concatenation of each part (UTF-8 for strings) preceded by its length, u32 big-endian. */
export function lengthPrefixed(...parts: (string | Uint8Array)[]): Uint8Array<ArrayBuffer> {
  const chunks: Uint8Array[] = [];
  for (const part of parts) {
    const bytes = typeof part === "string" ? encoder.encode(part) : part;
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, bytes.length);
    chunks.push(len, bytes);
  }
  return concatBytes(...chunks);
}

/** What a client signs in AdvertiseKeys. */
export function advertisePayload(
  context: string,
  id: string,
  cPk: Uint8Array,
  sPk: Uint8Array,
): Uint8Array<ArrayBuffer> {
  return lengthPrefixed(LABEL.advertise, context, id, cPk, sPk);
}

/** What a survivor signs in ConsistencyCheck: the survivor bitmap. */
export function consistencyPayload(
  context: string,
  survivors: Uint8Array,
): Uint8Array<ArrayBuffer> {
  return lengthPrefixed(LABEL.consistency, context, survivors);
}

/** Associated data of the ciphertext from `from` to `to`: direction and round. */
export function shareAad(context: string, from: string, to: string): Uint8Array<ArrayBuffer> {
  return lengthPrefixed(LABEL.share, context, from, to);
}

/**
 * The digest a sender commits to for one share it seals for `to` (kind "b": of its self-mask
 * seed, "sk": of its mask key): the server checks a share revealed at Unmasking against it, so a
 * survivor that reveals a wrong share is refused instead of poisoning the rebuilt secret.
 */
export function shareDigest(
  context: string,
  from: string,
  to: string,
  kind: "b" | "sk",
  share: Uint8Array,
): Hex {
  return digestHex(lengthPrefixed(LABEL.shareDigest, context, from, to, kind, share));
}

/**
 * What a client commits to its self-mask seed b with in ShareKeys: the server checks the b it
 * rebuilds at Unmasking against it. Found in the secure aggregation audit: each share's digest
 * binds that share, not that the shares lie on one polynomial, so a node whose shares of b did not
 * fit together made the server rebuild a wrong b, and the round's sum was noise nobody was named
 * for. b is 32 random bytes: its hash tells nothing of it.
 */
export function selfMaskCommit(context: string, id: string, b: Uint8Array): Hex {
  return digestHex(lengthPrefixed(LABEL.selfMaskCommit, context, id, b));
}

/** Share plaintext: share of b, then share of s^SK. */
export function encodeSharePlaintext(bShare: Uint8Array, skShare: Uint8Array): Uint8Array {
  return concatBytes(bShare, skShare);
}

/** Splits a share plaintext; undefined when its length is wrong. */
export function decodeSharePlaintext(
  plain: Uint8Array,
): { bShare: Uint8Array; skShare: Uint8Array } | undefined {
  if (plain.length !== 2 * SHARE_BYTES) return undefined;
  return { bShare: plain.slice(0, SHARE_BYTES), skShare: plain.slice(SHARE_BYTES) };
}

/** Decodes 0x hex of exactly `length` bytes; undefined otherwise. */
export function hexOfLength(hex: unknown, length: number): Uint8Array<ArrayBuffer> | undefined {
  if (typeof hex !== "string" || hex.length !== 2 + 2 * length) return undefined;
  try {
    return hexToBytes(hex);
  } catch {
    return undefined;
  }
}
