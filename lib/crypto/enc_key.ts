/**
 * X25519 encryption keys (the DID document's `keyAgreement`), kept apart from the Ed25519
 * signing key so each can be rotated on its own.
 *
 * @module
 */
import { x25519 } from "@noble/curves/ed25519.js";
import { bytesToHex, type Hex } from "./digest.ts";
import { loadKeyFile, loadOrCreateKeyFile, saveKeyFile } from "./_key_file.ts";

export { KeyFileError } from "./_key_file.ts";

/** An X25519 key pair. Public key as 0x hex is the DID registry's `encKey` (bytes32). */
export interface EncKey {
  /** 32-byte secret scalar; keep it secret. */
  readonly secretKey: Uint8Array<ArrayBuffer>;
  /** 32-byte public key. */
  readonly publicKey: Uint8Array<ArrayBuffer>;
  /** Public key as 0x-prefixed hex. */
  readonly publicKeyHex: Hex;
}

/**
 * Builds an {@link EncKey} from a 32-byte secret.
 *
 * @example
 * ```ts
 * import { encKeyFromSecret } from "./enc_key.ts";
 * console.assert(encKeyFromSecret(new Uint8Array(32).fill(1)).publicKey.length === 32);
 * ```
 */
export function encKeyFromSecret(secretKey: Uint8Array): EncKey {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new TypeError("Cannot build encryption key: secret key must be 32 bytes");
  }
  const secret = secretKey.slice();
  const publicKey = x25519.getPublicKey(secret).slice();
  return { secretKey: secret, publicKey, publicKeyHex: bytesToHex(publicKey) };
}

/**
 * Generates a random X25519 key pair.
 *
 * @example
 * ```ts
 * import { generateEncKey } from "./enc_key.ts";
 * console.assert(generateEncKey().publicKeyHex.length === 66);
 * ```
 */
export function generateEncKey(): EncKey {
  return encKeyFromSecret(crypto.getRandomValues(new Uint8Array(32)));
}

const ALGORITHM = "X25519";

/**
 * Writes an encryption key file (JSON, mode 0600, crash-safe).
 *
 * @example
 * ```ts
 * import { generateEncKey, loadEncKey, saveEncKey } from "./enc_key.ts";
 * const dir = await Deno.makeTempDir();
 * const key = generateEncKey();
 * await saveEncKey(`${dir}/enc.key`, key);
 * console.assert((await loadEncKey(`${dir}/enc.key`)).publicKeyHex === key.publicKeyHex);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function saveEncKey(path: string, key: EncKey): Promise<void> {
  return saveKeyFile(path, ALGORITHM, key);
}

/**
 * Reads an encryption key file; refuses files readable by others.
 *
 * @throws {KeyFileError} when malformed or too permissive
 * @throws {Deno.errors.NotFound} when missing
 * @example
 * ```ts
 * import { loadEncKey, loadOrCreateEncKey } from "./enc_key.ts";
 * const dir = await Deno.makeTempDir();
 * const key = await loadOrCreateEncKey(`${dir}/enc.key`);
 * console.assert((await loadEncKey(`${dir}/enc.key`)).publicKeyHex === key.publicKeyHex);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function loadEncKey(path: string): Promise<EncKey> {
  return loadKeyFile(path, ALGORITHM, encKeyFromSecret);
}

/**
 * Loads the encryption key at `path`, or creates one (mode 0600); safe against crashes and
 * concurrent creators.
 *
 * @example
 * ```ts
 * import { loadOrCreateEncKey } from "./enc_key.ts";
 * const dir = await Deno.makeTempDir();
 * const a = await loadOrCreateEncKey(`${dir}/keys/enc.key`);
 * const b = await loadOrCreateEncKey(`${dir}/keys/enc.key`);
 * console.assert(a.publicKeyHex === b.publicKeyHex);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function loadOrCreateEncKey(path: string): Promise<EncKey> {
  return loadOrCreateKeyFile(path, ALGORITHM, encKeyFromSecret, generateEncKey);
}
