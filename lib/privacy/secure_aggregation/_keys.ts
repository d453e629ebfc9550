/**
 * X25519 key pairs and the keys derived from them, on WebCrypto (about 0.07 ms per agreement
 * here). Secret keys are kept as their 32 raw bytes because s^SK is secret-shared and rebuilt
 * by the server when its owner drops out; they enter WebCrypto as PKCS#8.
 *
 * Derived keys: HKDF-SHA256(ikm = X25519(sk, peer pk), salt = none, info = label ++ context ++
 * the two ids in sorted order), 32 bytes. Both ends of a pair derive the same key; a new round
 * (new context, new keys) derives unrelated ones.
 *
 * @module
 */
import { hexToBytes } from "../../crypto/digest.ts";
import { LABEL, lengthPrefixed } from "./_wire.ts";

/** DER prefix of a PKCS#8 X25519 private key (RFC 8410); the 32 key bytes follow. */
const PKCS8_X25519_PREFIX = hexToBytes("0x302e020100300506032b656e04220420");

/** An X25519 key pair with its raw secret. */
export interface KeyPair {
  secret: Uint8Array;
  publicKey: Uint8Array;
  privateKey: CryptoKey;
}

/** The key pair of a 32-byte secret (WebCrypto clamps it). */
export async function keyPairFromSecret(secret: Uint8Array): Promise<KeyPair> {
  if (secret.length !== 32) throw new TypeError("Cannot import X25519 key: need 32 bytes");
  const pkcs8 = new Uint8Array(48);
  pkcs8.set(PKCS8_X25519_PREFIX);
  pkcs8.set(secret, 16);
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, true, [
    "deriveBits",
  ]);
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  const publicKey = Uint8Array.from(
    atob(jwk.x!.replace(/-/g, "+").replace(/_/g, "/")),
    (c) => c.charCodeAt(0),
  );
  return { secret: secret.slice(), publicKey, privateKey };
}

/** A fixed key to try public keys against: nothing secret rests on it. */
let probe: Promise<KeyPair> | undefined;

/**
 * Whether `publicKey` can be agreed with: a low-order point gives X25519's all-zero result for
 * every private key, which WebCrypto refuses. Found in the secure aggregation audit: the server
 * relayed such a key, signed by its owner, and every honest neighbour failed at ShareKeys (a bad
 * c key) or while masking (a bad s key), with nobody named for it.
 */
export async function usablePublicKey(publicKey: Uint8Array): Promise<boolean> {
  probe ??= keyPairFromSecret(new Uint8Array(32).fill(7));
  const { privateKey } = await probe;
  try {
    await pairKey("probe", privateKey, { peerPublicKey: publicKey, context: "", ids: ["", ""] });
    return true;
  } catch {
    return false;
  }
}

/** One end of a pairwise agreement: the peer's public key, the round and the two ids. */
export interface Pair {
  peerPublicKey: Uint8Array;
  context: string;
  /** Both ids; their order does not matter. */
  ids: readonly [string, string];
}

/** HKDF key for `pair` from X25519(privateKey, peer public key), under `label`. */
export async function pairKey(
  label: string,
  privateKey: CryptoKey,
  pair: Pair,
): Promise<Uint8Array<ArrayBuffer>> {
  const peer = await crypto.subtle.importKey(
    "raw",
    pair.peerPublicKey.slice(),
    {
      name: "X25519",
    },
    false,
    [],
  );
  // WebCrypto rejects an all-zero result (a low-order peer key) with an OperationError.
  const shared = await crypto.subtle.deriveBits({ name: "X25519", public: peer }, privateKey, 256);
  const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveBits"]);
  const [a, b] = pair.ids;
  const [lo, hi] = a < b ? [a, b] : [b, a];
  const info = lengthPrefixed(label, pair.context, lo, hi);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info },
    ikm,
    256,
  );
  return new Uint8Array(bits);
}

/** Seed of the pairwise mask of `pair` (from the s keys). */
export function pairMaskSeed(sPrivate: CryptoKey, pair: Pair): Promise<Uint8Array<ArrayBuffer>> {
  return pairKey(LABEL.mask, sPrivate, pair);
}

/** AEAD key of the share channel of `pair` (from the c keys). */
export function shareKey(cPrivate: CryptoKey, pair: Pair): Promise<Uint8Array<ArrayBuffer>> {
  return pairKey(LABEL.shareKey, cPrivate, pair);
}
