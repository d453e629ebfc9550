/**
 * Wrapping a data key to a grantee's X25519 public key (ECIES-style):
 * ephemeral-static X25519, HKDF-SHA256, XChaCha20-Poly1305.
 *
 * `key = HKDF-SHA256(ikm = X25519(eph, recipient), salt = epk ++ recipientPk,
 * info = "ArthaTrain:wrap-key:v1" ++ context)`; the wrapped key is
 * `version (1) ++ epk (32) ++ seal(key, dataKey, aad = context)`. The `context` (for example
 * the dataset id and grantee DID) binds the wrapped key to one grant, so it cannot be
 * replayed for another.
 *
 * @module
 */
import { x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes } from "./digest.ts";
import { DecryptionError, NONCE_BYTES, openSealed, seal, TAG_BYTES } from "./aead.ts";

/** Format version byte of wrapped keys. */
export const WRAPPED_KEY_VERSION = 1;
const INFO = new TextEncoder().encode("ArthaTrain:wrap-key:v1");

/** Options of {@link wrapKey} and {@link unwrapKey}. */
export interface WrapOptions {
  /** Bytes both sides agree on (e.g. datasetId ++ granteeDid); default empty. */
  context?: Uint8Array;
}

/**
 * Whether a key can be wrapped to `publicKey`: 32 bytes and no low-order point (whose shared
 * secret is all zeros; the DID registry accepts any non-zero key).
 *
 * @example
 * ```ts
 * import { canWrapTo } from "./key_wrap.ts";
 * import { generateEncKey } from "./enc_key.ts";
 * console.assert(canWrapTo(generateEncKey().publicKey) && !canWrapTo(new Uint8Array(32).fill(0)));
 * ```
 */
export function canWrapTo(publicKey: Uint8Array): boolean {
  try {
    wrapKey(new Uint8Array(32), publicKey);
    return true;
  } catch (e) {
    if (e instanceof TypeError) return false;
    throw e;
  }
}

/**
 * Encrypts `dataKey` so only the holder of the secret for `recipientPublicKey` can read it.
 *
 * @example
 * ```ts
 * import { generateEncKey } from "./enc_key.ts";
 * import { unwrapKey, wrapKey } from "./key_wrap.ts";
 * const bob = generateEncKey();
 * const wrapped = wrapKey(new Uint8Array(32).fill(9), bob.publicKey);
 * console.assert(unwrapKey(wrapped, bob.secretKey)[0] === 9);
 * ```
 */
export function wrapKey(
  dataKey: Uint8Array,
  recipientPublicKey: Uint8Array,
  options: WrapOptions = {},
): Uint8Array<ArrayBuffer> {
  if (recipientPublicKey.length !== 32) {
    throw new TypeError("Cannot wrap key: recipient public key must be 32 bytes");
  }
  const ephemeral = crypto.getRandomValues(new Uint8Array(32));
  const epk = x25519.getPublicKey(ephemeral);
  const kek = deriveKek(ephemeral, recipientPublicKey, epk, recipientPublicKey, options);
  if (kek === null) throw new TypeError("Cannot wrap key: recipient public key is not usable");
  return concatBytes(
    new Uint8Array([WRAPPED_KEY_VERSION]),
    epk,
    seal(kek, dataKey, options.context),
  );
}

/**
 * Decrypts a key wrapped by {@link wrapKey}.
 *
 * @throws {DecryptionError} for a wrong secret key, other context, or tampered bytes
 * @example
 * ```ts
 * import { generateEncKey } from "./enc_key.ts";
 * import { DecryptionError } from "./aead.ts";
 * import { unwrapKey, wrapKey } from "./key_wrap.ts";
 * const wrapped = wrapKey(new Uint8Array(32), generateEncKey().publicKey);
 * try {
 *   unwrapKey(wrapped, generateEncKey().secretKey);
 * } catch (e) {
 *   console.assert(e instanceof DecryptionError);
 * }
 * ```
 */
export function unwrapKey(
  wrapped: Uint8Array,
  recipientSecretKey: Uint8Array,
  options: WrapOptions = {},
): Uint8Array<ArrayBuffer> {
  if (wrapped.length < 1 + 32 + NONCE_BYTES + TAG_BYTES || wrapped[0] !== WRAPPED_KEY_VERSION) {
    throw new DecryptionError(
      `Cannot unwrap key: not a version ${WRAPPED_KEY_VERSION} wrapped key (${wrapped.length} bytes)`,
    );
  }
  const epk = wrapped.subarray(1, 33);
  const recipientPk = x25519.getPublicKey(recipientSecretKey);
  const kek = deriveKek(recipientSecretKey, epk, epk, recipientPk, options);
  if (kek === null) throw new DecryptionError("Cannot unwrap key: invalid ephemeral key");
  return openSealed(kek, wrapped.subarray(33), options.context);
}

function deriveKek(
  secret: Uint8Array,
  peerPublic: Uint8Array,
  epk: Uint8Array,
  recipientPk: Uint8Array,
  options: WrapOptions,
): Uint8Array | null {
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(secret, peerPublic);
  } catch {
    return null; // noble rejects low-order points (all-zero shared secret)
  }
  const info = concatBytes(INFO, options.context ?? new Uint8Array());
  return hkdf(sha256, shared, concatBytes(epk, recipientPk), info, 32);
}
