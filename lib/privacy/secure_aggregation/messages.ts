/**
 * Wire types of secure aggregation: every message a client sends (`ClientMessage`) and every
 * request the server sends back (`ServerRequest`), tagged with their `stage`. All are plain
 * JSON (bytes as 0x hex) except the masked input, a vector as large as the model, which has a
 * binary form ({@link encodeMaskedInput}). Survivor sets travel as bitmaps over the roster
 * ({@link rosterBitmap}): n bits instead of n ids.
 *
 * Per round, with k = the graph degree and L = the vector length:
 * - AdvertiseKeys, client -> server: two X25519 public keys and a signature (~260 bytes).
 * - ShareKeys request, server -> client: the k neighbours' AdvertiseKeys.
 * - ShareKeys, client -> server: k ciphertexts of two 33-byte shares (106 bytes each), and the
 *   two shares' 32-byte digests.
 * - MaskedInputCollection request, server -> client: the k ciphertexts addressed to it.
 * - MaskedInputCollection, client -> server: L masked 32-bit words.
 * - ConsistencyCheck (optional): survivors bitmap out, one signature back.
 * - Unmasking request: survivors and dropped bitmaps (+ >= t signatures if checked);
 *   response: one 33-byte share per neighbour.
 *
 * @module
 */
import { bytesToHex, type Hex, hexToBytes } from "../../crypto/digest.ts";

/** Signs bytes with the client's long-term identity (e.g. `signBytes(nodeKey, m)`). */
export type SignFn = (message: Uint8Array) => Hex | Promise<Hex>;
/** Checks `signature` on `message` by client `id` (e.g. `verifyBytes(pubkeyOf(id), m, s)`). */
export type VerifyFn = (
  id: string,
  message: Uint8Array,
  signature: Hex,
) => boolean | Promise<boolean>;

/** AdvertiseKeys, client -> server: c_pk (encryption) and s_pk (masks), signed. */
export interface AdvertiseKeys {
  stage: "AdvertiseKeys";
  id: string;
  /** X25519 public key for share encryption, 32 bytes. */
  cPk: Hex;
  /** X25519 public key for pairwise masks, 32 bytes. */
  sPk: Hex;
  /** Signature over the keys, the id and the round context (when identities are used). */
  signature?: Hex;
}

/** Server -> client, opens ShareKeys: the verified keys of the client's live neighbours. */
export interface ShareKeysRequest {
  stage: "ShareKeys";
  keys: AdvertiseKeys[];
}

/**
 * Shares of b_from and s_from^SK for `to`, sealed under the c-key agreement of the pair, with
 * the digest of each share (`shareDigest`): what the recipient checks on opening and the server
 * on the recipient's reveal.
 */
export interface EncryptedShare {
  from: string;
  to: string;
  ciphertext: Hex;
  bDigest: Hex;
  skDigest: Hex;
}

/** ShareKeys, client -> server: one ciphertext per neighbour in the request. */
export interface ShareKeys {
  stage: "ShareKeys";
  id: string;
  shares: EncryptedShare[];
  /** The commitment to the sender's self-mask seed b (`selfMaskCommit`). */
  bCommit: Hex;
}

/** Server -> client, opens MaskedInputCollection: the ciphertexts addressed to the client. */
export interface MaskedInputRequest {
  stage: "MaskedInputCollection";
  shares: EncryptedShare[];
}

/** MaskedInputCollection, client -> server: y_u = x_u + PRG(b_u) + sum of +-PRG(s_uv). */
export interface MaskedInput {
  stage: "MaskedInputCollection";
  id: string;
  masked: Uint32Array;
}

/** Server -> client (optional round): the survivor set U3 to sign. */
export interface ConsistencyRequest {
  stage: "ConsistencyCheck";
  /** Bitmap of U3 over the roster. */
  survivors: Hex;
}

/** ConsistencyCheck, client -> server: the client's signature on U3. */
export interface ConsistencySignature {
  stage: "ConsistencyCheck";
  id: string;
  signature: Hex;
}

/** Server -> client, opens Unmasking. */
export interface UnmaskRequest {
  stage: "Unmasking";
  /** Bitmap of the clients whose inputs are in the sum: reveal their b shares. */
  survivors: Hex;
  /** Bitmap of clients that shared keys but sent no input: reveal their s^SK shares. */
  dropped: Hex;
  /** With ConsistencyCheck: signatures of >= minSurvivors survivors on `survivors`. */
  signatures?: { id: string; signature: Hex }[];
}

/** One decrypted share revealed to the server. */
export interface RevealedShare {
  /** Whose secret this is a share of. */
  of: string;
  /** 33-byte field element. */
  share: Hex;
}

/** Unmasking, client -> server. */
export interface UnmaskResponse {
  stage: "Unmasking";
  id: string;
  /** Shares of b_v for surviving neighbours v. */
  selfMaskShares: RevealedShare[];
  /** Shares of s_v^SK for dropped neighbours v. */
  maskKeyShares: RevealedShare[];
}

/** Anything a client sends. */
export type ClientMessage =
  | AdvertiseKeys
  | ShareKeys
  | MaskedInput
  | ConsistencySignature
  | UnmaskResponse;
/** Anything the server asks a client. */
export type ServerRequest =
  | ShareKeysRequest
  | MaskedInputRequest
  | ConsistencyRequest
  | UnmaskRequest;

/** Why the server refused a message (an HTTP handler maps these to 4xx). */
export type RejectCode =
  | "WRONG_STAGE"
  | "UNKNOWN_CLIENT"
  | "NOT_INVITED"
  | "DUPLICATE"
  | "MALFORMED"
  | "BAD_SIGNATURE"
  | "BAD_SHARE";

/** The server's answer to one message. */
export type Receipt = { ok: true } | { ok: false; code: RejectCode; message: string };

/**
 * A set of roster members as a bitmap (bit i of byte i >> 3, least significant first).
 *
 * @throws {RangeError} on an id outside the roster
 * @example
 * ```ts
 * import { bitmapIds, rosterBitmap } from "./messages.ts";
 * const roster = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
 * const bits = rosterBitmap(["b", "i"], roster);
 * console.assert(bits === "0x0201" && bitmapIds(bits, roster).join() === "b,i");
 * ```
 */
export function rosterBitmap(ids: Iterable<string>, roster: readonly string[]): Hex {
  const index = new Map(roster.map((id, i) => [id, i]));
  const bytes = new Uint8Array(Math.ceil(roster.length / 8));
  for (const id of ids) {
    const i = index.get(id);
    if (i === undefined) throw new RangeError(`Cannot encode set: ${id} is not in the roster`);
    bytes[i >> 3]! |= 1 << (i & 7);
  }
  return bytesToHex(bytes);
}

/**
 * The roster members in a bitmap made by {@link rosterBitmap}, in roster order.
 *
 * @throws {TypeError} on a bitmap of the wrong length or with bits past the roster
 * @example
 * ```ts
 * import { bitmapIds } from "./messages.ts";
 * console.assert(bitmapIds("0x05", ["a", "b", "c"]).join() === "a,c");
 * ```
 */
export function bitmapIds(bitmap: Hex, roster: readonly string[]): string[] {
  const bytes = hexToBytes(bitmap);
  if (bytes.length !== Math.ceil(roster.length / 8)) {
    throw new TypeError(`Cannot decode set: ${bytes.length} bytes for ${roster.length} clients`);
  }
  const out: string[] = [];
  for (let i = 0; i < bytes.length * 8; i++) {
    if ((bytes[i >> 3]! >> (i & 7)) & 1) {
      if (i >= roster.length) throw new TypeError("Cannot decode set: bits past the roster");
      out.push(roster[i]!);
    }
  }
  return out;
}

const MAGIC = [0x53, 0x41, 0x47, 0x4d]; // "SAGM"
const FORMAT_VERSION = 1;
const HEADER_BYTES = 16;

/**
 * Binary form of a masked input: `"SAGM" | version u8 | 3 zero bytes | id bytes u32 LE |
 * words u32 LE | id (UTF-8, zero-padded to 4) | words (u32 LE)`. 16 bytes + id + 4 per word.
 *
 * @example
 * ```ts
 * import { decodeMaskedInput, encodeMaskedInput } from "./messages.ts";
 * const msg = { stage: "MaskedInputCollection" as const, id: "n1", masked: new Uint32Array([7]) };
 * const bytes = encodeMaskedInput(msg);
 * console.assert(bytes.length === 24 && decodeMaskedInput(bytes).masked[0] === 7);
 * ```
 */
export function encodeMaskedInput(msg: MaskedInput): Uint8Array<ArrayBuffer> {
  const id = new TextEncoder().encode(msg.id);
  const idPadded = Math.ceil(id.length / 4) * 4;
  const out = new Uint8Array(HEADER_BYTES + idPadded + 4 * msg.masked.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC);
  out[4] = FORMAT_VERSION;
  view.setUint32(8, id.length, true);
  view.setUint32(12, msg.masked.length, true);
  out.set(id, HEADER_BYTES);
  const m = msg.masked;
  out.set(new Uint8Array(m.buffer, m.byteOffset, 4 * m.length), HEADER_BYTES + idPadded);
  return out;
}

/**
 * Parses bytes made by {@link encodeMaskedInput}, checking the header first.
 *
 * @throws {TypeError} on bytes that are not a masked input of this version, or truncated ones
 * @example
 * ```ts
 * import { decodeMaskedInput } from "./messages.ts";
 * try {
 *   decodeMaskedInput(new Uint8Array(16));
 * } catch (e) {
 *   console.assert(e instanceof TypeError);
 * }
 * ```
 */
export function decodeMaskedInput(bytes: Uint8Array): MaskedInput {
  if (bytes.length < HEADER_BYTES || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new TypeError("Cannot decode masked input: missing SAGM header (not a masked input)");
  }
  if (bytes[4] !== FORMAT_VERSION) {
    throw new TypeError(
      `Cannot decode masked input: version ${bytes[4]}, this build reads ${FORMAT_VERSION} ` +
        "(update the worker and the coordinator together)",
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idBytes = view.getUint32(8, true);
  const words = view.getUint32(12, true);
  const idPadded = Math.ceil(idBytes / 4) * 4;
  if (bytes.length !== HEADER_BYTES + idPadded + 4 * words) {
    throw new TypeError(
      `Cannot decode masked input: ${bytes.length} bytes, header says ` +
        `${HEADER_BYTES + idPadded + 4 * words} (truncated upload?)`,
    );
  }
  const id = new TextDecoder().decode(bytes.subarray(HEADER_BYTES, HEADER_BYTES + idBytes));
  const start = HEADER_BYTES + idPadded;
  const masked = new Uint32Array(bytes.slice(start, start + 4 * words).buffer);
  return { stage: "MaskedInputCollection", id, masked };
}

/** The fields each client message is made of, nested lists' items included. */
const FIELDS: Record<string, readonly string[]> = {
  AdvertiseKeys: ["stage", "id", "cPk", "sPk", "signature"],
  ShareKeys: ["stage", "id", "shares", "bCommit"],
  MaskedInputCollection: ["stage", "id", "masked"],
  ConsistencyCheck: ["stage", "id", "signature"],
  Unmasking: ["stage", "id", "selfMaskShares", "maskKeyShares"],
};
const ITEM_FIELDS: Record<string, readonly string[]> = {
  shares: ["from", "to", "ciphertext", "bDigest", "skDigest"],
  selfMaskShares: ["of", "share"],
  maskKeyShares: ["of", "share"],
};

/**
 * `msg` with only the fields its stage defines (and its lists' items theirs), in a fixed order;
 * anything else in it, as sent, is dropped. What a server keeps, relays to neighbours or stores
 * is this: found in the secure aggregation audit, a signed AdvertiseKeys padded with a megabyte
 * of an unknown field was kept and sent in every neighbour's ShareKeys request, for good. The
 * fields' values are the server's to check.
 *
 * @example
 * ```ts
 * import { canonicalMessage } from "./messages.ts";
 * const m = { stage: "ConsistencyCheck", id: "a", signature: "0x01", pad: "x".repeat(1e6) };
 * console.assert(JSON.stringify(canonicalMessage(m)) === '{"stage":"ConsistencyCheck","id":"a","signature":"0x01"}');
 * ```
 */
export function canonicalMessage<T>(msg: T): T {
  if (typeof msg !== "object" || msg === null) return msg;
  const fields = FIELDS[String((msg as { stage?: unknown }).stage)];
  if (!fields) return msg;
  return pick(msg as Record<string, unknown>, fields, (name, value) => {
    const items = ITEM_FIELDS[name];
    if (!items || !Array.isArray(value)) return value;
    return value.map((item) =>
      typeof item === "object" && item !== null
        ? pick(item as Record<string, unknown>, items, (_, v) => v)
        : item
    );
  }) as T;
}

function pick(
  from: Record<string, unknown>,
  fields: readonly string[],
  map: (name: string, value: unknown) => unknown,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (f in from) out[f] = map(f, from[f]);
  return out;
}
