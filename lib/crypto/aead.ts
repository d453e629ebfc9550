/**
 * Authenticated encryption: XChaCha20-Poly1305 (`@noble/ciphers`) with random 24-byte
 * nonces, which are safe to pick at random for any number of messages under one key.
 *
 * Sealed format: `nonce (24) ++ ciphertext ++ tag (16)`.
 *
 * @module
 */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";

/** Key length in bytes. */
export const KEY_BYTES = 32;
/** Nonce length in bytes. */
export const NONCE_BYTES = 24;
/** Poly1305 tag length in bytes. */
export const TAG_BYTES = 16;

/**
 * Thrown when a ciphertext does not authenticate: wrong key, tampered or truncated bytes,
 * or wrong associated data. Deliberately does not say which.
 */
export class DecryptionError extends Error {
  /** Stable error code. */
  readonly code = "DECRYPT_FAILED";
  /** @param message short reason */
  constructor(
    message = "Cannot decrypt: wrong key or tampered ciphertext",
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "DecryptionError";
  }
}

/**
 * A fresh random 32-byte key.
 *
 * @example
 * ```ts
 * import { randomKey } from "./aead.ts";
 * console.assert(randomKey().length === 32);
 * ```
 */
export function randomKey(): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES));
}

/**
 * Encrypts and authenticates `plaintext` (and `aad`, which is not encrypted).
 *
 * @example
 * ```ts
 * import { openSealed, randomKey, seal } from "./aead.ts";
 * const key = randomKey();
 * const sealed = seal(key, new Uint8Array([1, 2, 3]));
 * console.assert(openSealed(key, sealed)[2] === 3);
 * ```
 */
export function seal(
  key: Uint8Array,
  plaintext: Uint8Array,
  aad?: Uint8Array,
): Uint8Array<ArrayBuffer> {
  checkKey(key);
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const ct = xchacha20poly1305(key, nonce, aad).encrypt(plaintext);
  const out = new Uint8Array(NONCE_BYTES + ct.length);
  out.set(nonce);
  out.set(ct, NONCE_BYTES);
  return out;
}

/**
 * Decrypts bytes made by {@link seal}.
 *
 * @throws {DecryptionError} on a wrong key, tampering, truncation or different `aad`
 * @example
 * ```ts
 * import { DecryptionError, openSealed, randomKey, seal } from "./aead.ts";
 * const sealed = seal(randomKey(), new Uint8Array([1]));
 * try {
 *   openSealed(randomKey(), sealed);
 * } catch (e) {
 *   console.assert(e instanceof DecryptionError);
 * }
 * ```
 */
export function openSealed(
  key: Uint8Array,
  sealed: Uint8Array,
  aad?: Uint8Array,
): Uint8Array<ArrayBuffer> {
  checkKey(key);
  if (sealed.length < NONCE_BYTES + TAG_BYTES) {
    throw new DecryptionError(
      `Cannot decrypt: ${sealed.length} bytes is shorter than nonce and tag (truncated)`,
    );
  }
  try {
    return xchacha20poly1305(key, sealed.subarray(0, NONCE_BYTES), aad)
      .decrypt(sealed.subarray(NONCE_BYTES)) as Uint8Array<ArrayBuffer>;
  } catch (cause) {
    throw new DecryptionError(undefined, { cause });
  }
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new TypeError(`Cannot use AEAD key: expected ${KEY_BYTES} bytes`);
  }
}
