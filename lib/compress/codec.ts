/**
 * The update-compression interface every codec implements (one codec per file:
 * `fp32.ts`, `top_k.ts`, `quantize_int8.ts`, `quantize_int4.ts`, `top_k_int8.ts`,
 * `partition.ts`), and the self-describing header every payload starts with.
 *
 * Header (12 bytes, little-endian), checked before any parsing:
 *
 * | offset | size | field                                   |
 * | ------ | ---- | --------------------------------------- |
 * | 0      | 4    | magic `"ACZ1"` (0x41 0x43 0x5a 0x31)    |
 * | 4      | 1    | format version ({@link FORMAT_VERSION}) |
 * | 5      | 1    | codec id ({@link CODEC_ID})             |
 * | 6      | 2    | codec parameter (block size, 0 if none) |
 * | 8      | 4    | number of fp32 values in the delta      |
 *
 * @module
 */
import { digestHex, type Hex } from "../crypto/digest.ts";
import { merkleRoot } from "../crypto/merkle.ts";

/** Magic bytes at the start of every compressed update: ASCII "ACZ1". */
export const MAGIC: Uint8Array = new Uint8Array([0x41, 0x43, 0x5a, 0x31]);
/** Version of the payload layout this module writes and reads. */
export const FORMAT_VERSION = 1;
/** Header size in bytes. */
export const HEADER_BYTES = 12;

/** Stable numeric ids written into the header; never renumber. */
export const CODEC_ID = {
  fp32: 1,
  topk: 2,
  int8: 3,
  int4: 4,
  topkInt8: 5,
  partition: 6,
} as const;

/** A codec id from {@link CODEC_ID}. */
export type CodecId = typeof CODEC_ID[keyof typeof CODEC_ID];

/**
 * Residual memory for error feedback (EF-SGD): what a lossy codec left out of earlier
 * rounds, added back to the next delta before compressing. One per client, kept locally.
 */
export interface ErrorFeedbackState {
  residual: Float32Array;
}

/** What `encode` returns. */
export interface EncodeResult {
  /** The payload to send: header + body. */
  bytes: Uint8Array<ArrayBuffer>;
  /** Updated error-feedback state (the same object that was passed in, mutated). */
  state?: ErrorFeedbackState;
}

/** An update codec. `decode(encode(d).bytes, d.length)` approximates `d`. */
export interface Codec {
  /** Short stable name ("fp32", "topk", "int8", "int4", "topk-int8", "partition"). */
  readonly name: string;
  /** Id written into the header. */
  readonly id: CodecId;
  /**
   * True when nothing needs carrying between rounds: the codec is lossless (the residual stays
   * zero) or keeps no residual by design (partition).
   */
  readonly stateless?: boolean;
  /**
   * Compresses `delta`. With `state`, the residual is added first and afterwards replaced by
   * `(delta + residual) - decode(bytes)`, so nothing is lost across rounds.
   */
  encode(delta: Float32Array, state?: ErrorFeedbackState): EncodeResult;
  /** Decompresses a payload of this codec holding `length` values. */
  decode(bytes: Uint8Array, length: number): Float32Array;
}

/** Parsed payload header. */
export interface PayloadHeader {
  version: number;
  codecId: number;
  param: number;
  length: number;
}

/**
 * Thrown when a payload cannot be decoded (bad magic, version, codec, length, truncated or
 * inconsistent body). Aggregators catch it to reject the update instead of crashing.
 */
export class InvalidPayloadError extends Error {
  /** Stable code for callers. */
  readonly code = "INVALID_PAYLOAD" as const;
  /** Why the payload was refused. */
  readonly reason: string;
  /** @param reason the state that prevented decoding */
  constructor(reason: string, options?: ErrorOptions) {
    super(`Cannot decode update payload: ${reason}`, options);
    this.name = "InvalidPayloadError";
    this.reason = reason;
  }
}

/**
 * Writes the header into a new buffer of `HEADER_BYTES + bodyBytes` bytes.
 *
 * @example
 * ```ts
 * import { CODEC_ID, readHeader, writeHeader } from "./codec.ts";
 * const buf = writeHeader(CODEC_ID.fp32, 0, 3, 12);
 * console.assert(readHeader(buf).length === 3);
 * ```
 */
export function writeHeader(
  codecId: CodecId,
  param: number,
  length: number,
  bodyBytes: number,
): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(length) || length < 0 || length > 0xffffffff) {
    throw new RangeError(`Cannot write header: length ${length} is not a uint32`);
  }
  if (!Number.isInteger(param) || param < 0 || param > 0xffff) {
    throw new RangeError(`Cannot write header: parameter ${param} is not a uint16`);
  }
  const out = new Uint8Array(HEADER_BYTES + bodyBytes);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint8(4, FORMAT_VERSION);
  view.setUint8(5, codecId);
  view.setUint16(6, param, true);
  view.setUint32(8, length, true);
  return out;
}

/**
 * Reads and validates the header (magic and version only; the codec checks the rest).
 *
 * @throws {InvalidPayloadError} when the bytes are too short or not an ArthaTrain payload
 * @example
 * ```ts
 * import { InvalidPayloadError, readHeader } from "./codec.ts";
 * try {
 *   readHeader(new Uint8Array(12));
 * } catch (e) {
 *   console.assert(e instanceof InvalidPayloadError);
 * }
 * ```
 */
export function readHeader(bytes: Uint8Array): PayloadHeader {
  if (bytes.length < HEADER_BYTES) {
    throw new InvalidPayloadError(
      `${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header`,
    );
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) {
      const got = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0"));
      throw new InvalidPayloadError(
        `magic 0x${got.join("")} is not "ACZ1"; encode updates with lib/compress codecs`,
      );
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(4);
  if (version !== FORMAT_VERSION) {
    throw new InvalidPayloadError(
      `format version ${version} is not supported (this build reads ${FORMAT_VERSION}); ` +
        `upgrade the reader or re-encode`,
    );
  }
  return {
    version,
    codecId: view.getUint8(5),
    param: view.getUint16(6, true),
    length: view.getUint32(8, true),
  };
}

/**
 * Reads the header and checks it names `codecId` and `length` values; codecs call this first.
 *
 * @throws {InvalidPayloadError} on any mismatch
 * @example
 * ```ts
 * import { CODEC_ID, expectHeader, writeHeader } from "./codec.ts";
 * console.assert(expectHeader(writeHeader(CODEC_ID.int8, 64, 5, 0), CODEC_ID.int8, 5).param === 64);
 * ```
 */
export function expectHeader(bytes: Uint8Array, codecId: CodecId, length: number): PayloadHeader {
  const header = readHeader(bytes);
  if (header.codecId !== codecId) {
    throw new InvalidPayloadError(
      `codec id ${header.codecId} in header, expected ${codecId}; use decodePayload to dispatch`,
    );
  }
  if (header.length !== length) {
    throw new InvalidPayloadError(
      `header holds ${header.length} values, the model expects ${length}`,
    );
  }
  return header;
}

/** Digests that commit to exactly the bytes that were sent. */
export interface PayloadCommitment {
  /** keccak256 of the whole payload. */
  digest: Hex;
  /** Merkle root (lib/crypto/merkle.ts, 4 KiB chunks) of the payload, for chunk challenges. */
  merkleRoot: Hex;
  /** Payload size in bytes. */
  byteLength: number;
}

/**
 * keccak256 digest and Merkle root of a compressed payload.
 *
 * @example
 * ```ts
 * import { commitPayload } from "./codec.ts";
 * const c = commitPayload(new Uint8Array(100));
 * console.assert(c.digest.length === 66 && c.byteLength === 100);
 * ```
 */
export function commitPayload(bytes: Uint8Array): PayloadCommitment {
  return { digest: digestHex(bytes), merkleRoot: merkleRoot(bytes), byteLength: bytes.length };
}

/**
 * Creates a zeroed error-feedback state for a model of `length` parameters.
 *
 * @example
 * ```ts
 * import { createErrorFeedback } from "./codec.ts";
 * console.assert(createErrorFeedback(4).residual.length === 4);
 * ```
 */
export function createErrorFeedback(length: number): ErrorFeedbackState {
  return { residual: new Float32Array(length) };
}

/**
 * A delta with a non-finite value (a job driven to NaN or infinity), which no codec can encode.
 * Its name survives a trip through a Web Worker's messages, where the class does not.
 */
export class NonFiniteUpdateError extends RangeError {
  /** @param index where the first non-finite value is @param value it */
  constructor(readonly index: number, readonly value: number) {
    super(`Cannot encode delta: value ${value} at index ${index} is not finite`);
    this.name = "NonFiniteUpdateError";
  }
}

/**
 * Whether `e` is a {@link NonFiniteUpdateError}, here or from a Web Worker (by its name).
 *
 * @example
 * ```ts
 * import { isNonFiniteUpdate, withResidual } from "./codec.ts";
 * let caught: unknown;
 * try {
 *   withResidual(new Float32Array([NaN]));
 * } catch (e) {
 *   caught = e;
 * }
 * console.assert(isNonFiniteUpdate(caught) && !isNonFiniteUpdate(new RangeError("x")));
 * ```
 */
export function isNonFiniteUpdate(e: unknown): boolean {
  return e instanceof Error && e.name === "NonFiniteUpdateError";
}

/**
 * Adds the residual to `delta` (when a state is given) into a new array; the value a codec
 * actually compresses. Refuses non-finite values, which no codec can represent.
 *
 * @throws {RangeError} when the residual has a different length
 * @throws {NonFiniteUpdateError} when a value is not finite
 * @example
 * ```ts
 * import { withResidual } from "./codec.ts";
 * const c = withResidual(new Float32Array([1]), { residual: new Float32Array([2]) });
 * console.assert(c[0] === 3);
 * ```
 */
export function withResidual(delta: Float32Array, state?: ErrorFeedbackState): Float32Array {
  const out = new Float32Array(delta);
  if (state && state.residual.length !== delta.length) {
    throw new RangeError(
      `Cannot apply error feedback: residual has ${state.residual.length} values, delta ${delta.length}`,
    );
  }
  if (state) { for (let i = 0; i < out.length; i++) out[i]! += state.residual[i]!; }
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i]!)) {
      throw new NonFiniteUpdateError(i, out[i]!);
    }
  }
  return out;
}

/**
 * Sets `state.residual = corrected - decoded` (in place) after a lossy encode.
 *
 * @example
 * ```ts
 * import { updateResidual } from "./codec.ts";
 * const s = { residual: new Float32Array(1) };
 * updateResidual(s, new Float32Array([3]), new Float32Array([2]));
 * console.assert(s.residual[0] === 1);
 * ```
 */
export function updateResidual(
  state: ErrorFeedbackState,
  corrected: Float32Array,
  decoded: Float32Array,
): ErrorFeedbackState {
  const r = state.residual;
  for (let i = 0; i < r.length; i++) r[i] = corrected[i]! - decoded[i]!;
  return state;
}
