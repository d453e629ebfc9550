/**
 * Shared body of the dense blockwise codecs (int8, int4): header, fp32 scales, then codes
 * (one byte each for int8; two per byte, low nibble first, offset by 8, for int4).
 *
 * @module
 */
import { Prng } from "../crypto/prng.ts";
import {
  type Codec,
  type CodecId,
  type EncodeResult,
  type ErrorFeedbackState,
  expectHeader,
  HEADER_BYTES,
  InvalidPayloadError,
  updateResidual,
  withResidual,
  writeHeader,
} from "./codec.ts";
import {
  blockCount,
  checkBlockSize,
  dequantizeBlocks,
  quantizeBlocks,
  type Quantized,
  readFloat32s,
  type Rounding,
  writeFloat32s,
} from "./_blockwise.ts";

/** Options of the blockwise quantisation codecs. */
export interface QuantizeOptions {
  /** Values per scale (default 64; at most 65535). */
  blockSize?: number;
  /** "nearest" (default, deterministic) or "stochastic" (unbiased, seeded). */
  rounding?: Rounding;
  /** Seed of the stochastic-rounding generator (default 0); each encode continues it. */
  seed?: number;
}

/** Builds a dense quantisation codec with `bits` of 8 or 4. */
export function denseQuantizedCodec(
  name: string,
  id: CodecId,
  bits: 8 | 4,
  options: QuantizeOptions,
): Codec {
  const blockSize = options.blockSize ?? 64;
  checkBlockSize(blockSize);
  const rounding = options.rounding ?? "nearest";
  const rng = rounding === "stochastic" ? new Prng(options.seed ?? 0) : undefined;
  const format: DenseFormat = { name, id, bits, blockSize, rounding, rng };
  return {
    name,
    id,
    encode: (delta: Float32Array, state?: ErrorFeedbackState): EncodeResult =>
      encodeDense(format, delta, state),
    decode: (bytes: Uint8Array, length: number): Float32Array => decodeDense(format, bytes, length),
  };
}

/** One dense codec's settings. */
interface DenseFormat {
  name: string;
  id: CodecId;
  bits: 8 | 4;
  blockSize: number;
  rounding: Rounding;
  rng: Prng | undefined;
}

/** Bytes of `n` codes: one each for int8, two per byte for int4. */
function codeBytes(bits: 8 | 4, n: number): number {
  return bits === 8 ? n : Math.ceil(n / 2);
}

function encodeDense(
  f: DenseFormat,
  delta: Float32Array,
  state?: ErrorFeedbackState,
): EncodeResult {
  const values = withResidual(delta, state);
  const q = quantizeBlocks(values, f.bits === 8 ? 127 : 7, f.blockSize, f.rounding, f.rng);
  const n = values.length;
  const scalesBytes = q.scales.length * 4;
  const bytes = writeHeader(f.id, f.blockSize, n, scalesBytes + codeBytes(f.bits, n));
  writeFloat32s(bytes, HEADER_BYTES, q.scales);
  packCodes(f.bits, q.codes, bytes, HEADER_BYTES + scalesBytes);
  if (state) updateResidual(state, values, dequantizeBlocks(q, f.blockSize));
  return { bytes, state };
}

function decodeDense(f: DenseFormat, bytes: Uint8Array, length: number): Float32Array {
  const header = expectHeader(bytes, f.id, length);
  const bs = header.param;
  if (bs < 1) throw new InvalidPayloadError(`block size 0 in a ${f.name} header`);
  const nb = blockCount(length, bs);
  const expected = HEADER_BYTES + nb * 4 + codeBytes(f.bits, length);
  if (bytes.length !== expected) {
    throw new InvalidPayloadError(
      `${f.name} body is ${bytes.length} bytes, expected ${expected}`,
    );
  }
  const scales = readFloat32s(bytes, HEADER_BYTES, nb);
  checkScales(scales);
  const codes = unpackCodes(f.bits, bytes, HEADER_BYTES + nb * 4, length);
  return dequantizeBlocks({ scales, codes } satisfies Quantized, bs);
}

/** Writes `codes` into `bytes` at `off`: as is for int8; low nibble first, offset by 8, for int4. */
function packCodes(bits: 8 | 4, codes: Int8Array, bytes: Uint8Array, off: number): void {
  const n = codes.length;
  if (bits === 8) {
    bytes.set(new Uint8Array(codes.buffer), off);
  } else {
    for (let i = 0; i < n; i += 2) {
      const lo = codes[i]! + 8;
      const hi = i + 1 < n ? codes[i + 1]! + 8 : 0;
      bytes[off + (i >> 1)] = lo | (hi << 4);
    }
  }
}

/** Reads `length` codes from `bytes` at `off`, the inverse of {@link packCodes}. */
function unpackCodes(bits: 8 | 4, bytes: Uint8Array, off: number, length: number): Int8Array {
  const codes = new Int8Array(length);
  if (bits === 8) {
    codes.set(new Int8Array(bytes.buffer, bytes.byteOffset + off, length));
  } else {
    for (let i = 0; i < length; i++) {
      const byte = bytes[off + (i >> 1)]!;
      codes[i] = ((i & 1) === 0 ? byte & 0xf : byte >> 4) - 8;
    }
  }
  return codes;
}

/** Rejects scales a well-formed encoder cannot produce (negative, NaN, infinite). */
export function checkScales(scales: Float32Array): void {
  for (let b = 0; b < scales.length; b++) {
    const s = scales[b]!;
    if (!(s >= 0 && s < Infinity)) {
      throw new InvalidPayloadError(`scale ${s} of block ${b} is not finite and non-negative`);
    }
  }
}
