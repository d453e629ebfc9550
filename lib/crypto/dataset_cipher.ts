/**
 * Client-side dataset encryption with a random data key, in authenticated segments
 * (the STREAM construction), so a dataset can be decrypted piece by piece and any
 * tampering, reordering or truncation is detected.
 *
 * Format: header = `"ARTHAENC" (8) ++ version (1) ++ segmentSize u32 BE (4) ++ noncePrefix
 * (16)`, then segments of `segmentSize` plaintext bytes (the last one shorter, possibly
 * empty), each encrypted with XChaCha20-Poly1305 under nonce `noncePrefix ++ u64 BE index`
 * and associated data `header ++ finalFlag`.
 *
 * @module
 */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { concatBytes } from "./digest.ts";
import { DecryptionError, KEY_BYTES, TAG_BYTES } from "./aead.ts";

/** Default plaintext bytes per segment. */
export const DEFAULT_SEGMENT_SIZE = 1 << 20;
const MAGIC = new TextEncoder().encode("ARTHAENC");
const VERSION = 1;
const HEADER_BYTES = 8 + 1 + 4 + 16;

/** Options of {@link encryptDataset}. */
export interface EncryptDatasetOptions {
  /** Plaintext bytes per segment (default 1 MiB). */
  segmentSize?: number;
}

/**
 * Encrypts a dataset with `dataKey` (32 bytes; use a fresh random key per dataset).
 *
 * @example
 * ```ts
 * import { decryptDataset, encryptDataset } from "./dataset_cipher.ts";
 * import { randomKey } from "./aead.ts";
 * const key = randomKey();
 * const sealed = encryptDataset(new TextEncoder().encode("rows"), key);
 * console.assert(new TextDecoder().decode(decryptDataset(sealed, key)) === "rows");
 * ```
 */
export function encryptDataset(
  plaintext: Uint8Array,
  dataKey: Uint8Array,
  options: EncryptDatasetOptions = {},
): Uint8Array<ArrayBuffer> {
  checkKey(dataKey);
  const size = options.segmentSize ?? DEFAULT_SEGMENT_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > 0xffff_ffff - TAG_BYTES) {
    throw new RangeError(`Cannot encrypt dataset: segment size ${size} is out of range`);
  }
  const header = new Uint8Array(HEADER_BYTES);
  header.set(MAGIC);
  header[8] = VERSION;
  new DataView(header.buffer).setUint32(9, size);
  header.set(crypto.getRandomValues(new Uint8Array(16)), 13);
  const count = Math.max(1, Math.ceil(plaintext.length / size));
  const out = new Uint8Array(HEADER_BYTES + plaintext.length + count * TAG_BYTES);
  out.set(header);
  let at = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const segment = plaintext.subarray(i * size, (i + 1) * size);
    const ct = cipher(dataKey, header, i, i === count - 1).encrypt(segment);
    out.set(ct, at);
    at += ct.length;
  }
  return out;
}

/**
 * Decrypts bytes made by {@link encryptDataset}.
 *
 * @throws {DecryptionError} on a wrong key, tampering, reordering or truncation
 * @example
 * ```ts
 * import { decryptDataset, encryptDataset } from "./dataset_cipher.ts";
 * import { DecryptionError, randomKey } from "./aead.ts";
 * const sealed = encryptDataset(new Uint8Array(10), randomKey());
 * try {
 *   decryptDataset(sealed, randomKey());
 * } catch (e) {
 *   console.assert(e instanceof DecryptionError);
 * }
 * ```
 */
export function decryptDataset(sealed: Uint8Array, dataKey: Uint8Array): Uint8Array<ArrayBuffer> {
  checkKey(dataKey);
  if (sealed.length < HEADER_BYTES + TAG_BYTES || !MAGIC.every((b, i) => sealed[i] === b)) {
    throw new DecryptionError("Cannot decrypt dataset: not an ArthaTrain encrypted dataset");
  }
  if (sealed[8] !== VERSION) {
    throw new DecryptionError(`Cannot decrypt dataset: version ${sealed[8]} is not ${VERSION}`);
  }
  const header = sealed.slice(0, HEADER_BYTES);
  const size = new DataView(header.buffer).getUint32(9);
  if (size < 1) throw new DecryptionError("Cannot decrypt dataset: segment size is 0");
  const body = sealed.subarray(HEADER_BYTES);
  const count = Math.max(1, Math.ceil(body.length / (size + TAG_BYTES)));
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const segment = body.subarray(i * (size + TAG_BYTES), (i + 1) * (size + TAG_BYTES));
    if (segment.length < TAG_BYTES) {
      throw new DecryptionError("Cannot decrypt dataset: truncated segment");
    }
    try {
      parts.push(cipher(dataKey, header, i, i === count - 1).decrypt(segment));
    } catch (cause) {
      throw new DecryptionError(
        `Cannot decrypt dataset: segment ${i} does not authenticate (wrong key, tampered or truncated)`,
        { cause },
      );
    }
  }
  return concatBytes(...parts);
}

function cipher(key: Uint8Array, header: Uint8Array, index: number, final: boolean) {
  const nonce = new Uint8Array(24);
  nonce.set(header.subarray(13, 29));
  new DataView(nonce.buffer).setBigUint64(16, BigInt(index));
  return xchacha20poly1305(key, nonce, concatBytes(header, new Uint8Array([final ? 1 : 0])));
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new TypeError(`Cannot use data key: expected ${KEY_BYTES} bytes`);
  }
}
