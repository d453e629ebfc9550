/**
 * The composed codec: top-k sparsification with error feedback, the kept values quantised
 * to int8 in blocks (one fp32 scale per block of kept values), the indices gap + varint
 * coded. At 1% density a kept entry costs ~1 byte of value + ~1.1 bytes of index + 1/16 of
 * a scale, i.e. ~2.2 bytes instead of 100 x 4 bytes dense: ~180x fewer bytes than fp32.
 * The residual absorbs both the dropped coordinates and the quantisation error.
 *
 * Body: k (uint32) | ceil(k / blockSize) fp32 scales | k int8 codes | k gap-coded indices.
 *
 * @module
 */
import { Prng } from "../crypto/prng.ts";
import {
  type Codec,
  CODEC_ID,
  type EncodeResult,
  type ErrorFeedbackState,
  expectHeader,
  HEADER_BYTES,
  InvalidPayloadError,
  withResidual,
  writeHeader,
} from "./codec.ts";
import { decodeIndexGaps, encodeIndexGaps } from "./delta.ts";
import {
  blockCount,
  checkBlockSize,
  dequantizeBlocks,
  quantizeBlocks,
  readFloat32s,
  writeFloat32s,
} from "./_blockwise.ts";
import { checkScales, type QuantizeOptions } from "./_quantized_codec.ts";
import { resolveK, selectTopK } from "./_top_k.ts";
import { readCount, type TopKOptions } from "./top_k.ts";

/** Options of the composed codec. */
export type TopKInt8Options = TopKOptions & QuantizeOptions;

/**
 * Creates the top-k + int8 codec (default: 1% of entries, blocks of 64 kept values).
 *
 * @example
 * ```ts
 * import { createErrorFeedback } from "./codec.ts";
 * import { topKInt8Codec } from "./top_k_int8.ts";
 * const codec = topKInt8Codec({ fraction: 0.01 });
 * const delta = new Float32Array(10_000).map((_, i) => Math.sin(i));
 * const { bytes } = codec.encode(delta, createErrorFeedback(delta.length));
 * console.assert(bytes.length * 100 < delta.length * 4);
 * ```
 */
export function topKInt8Codec(options: TopKInt8Options = {}): Codec {
  resolveK(1, options);
  const blockSize = options.blockSize ?? 64;
  checkBlockSize(blockSize);
  const rounding = options.rounding ?? "nearest";
  const rng = rounding === "stochastic" ? new Prng(options.seed ?? 0) : undefined;
  return {
    name: "topk-int8",
    id: CODEC_ID.topkInt8,
    encode(delta: Float32Array, state?: ErrorFeedbackState): EncodeResult {
      const values = withResidual(delta, state);
      const k = resolveK(values.length, options);
      const indices = selectTopK(values, k);
      const kept = new Float32Array(k);
      for (let j = 0; j < k; j++) kept[j] = values[indices[j]!]!;
      const q = quantizeBlocks(kept, 127, blockSize, rounding, rng);
      const gaps = encodeIndexGaps(indices);
      const scalesBytes = q.scales.length * 4;
      const body = 4 + scalesBytes + k + gaps.length;
      const bytes = writeHeader(CODEC_ID.topkInt8, blockSize, values.length, body);
      new DataView(bytes.buffer).setUint32(HEADER_BYTES, k, true);
      writeFloat32s(bytes, HEADER_BYTES + 4, q.scales);
      bytes.set(new Uint8Array(q.codes.buffer), HEADER_BYTES + 4 + scalesBytes);
      bytes.set(gaps, HEADER_BYTES + 4 + scalesBytes + k);
      if (state) {
        const sent = dequantizeBlocks(q, blockSize);
        state.residual.set(values);
        for (let j = 0; j < k; j++) {
          const i = indices[j]!;
          state.residual[i] = values[i]! - sent[j]!;
        }
      }
      return { bytes, state };
    },
    decode(bytes: Uint8Array, length: number): Float32Array {
      const header = expectHeader(bytes, CODEC_ID.topkInt8, length);
      const bs = header.param;
      if (bs < 1) throw new InvalidPayloadError(`block size 0 in a topk-int8 header`);
      const k = readCount(bytes, length);
      const nb = blockCount(k, bs);
      const codesAt = HEADER_BYTES + 4 + nb * 4;
      if (bytes.length < codesAt + k) {
        throw new InvalidPayloadError(`topk-int8 body truncated: ${bytes.length} bytes`);
      }
      const scales = readFloat32s(bytes, HEADER_BYTES + 4, nb);
      checkScales(scales);
      const codes = new Int8Array(k);
      codes.set(new Int8Array(bytes.buffer, bytes.byteOffset + codesAt, k));
      const sent = dequantizeBlocks({ scales, codes }, bs);
      const { indices, end } = decodeIndexGaps(bytes, codesAt + k, k, length);
      if (end !== bytes.length) {
        throw new InvalidPayloadError(`${bytes.length - end} trailing bytes after indices`);
      }
      const out = new Float32Array(length);
      for (let j = 0; j < k; j++) out[indices[j]!] = sent[j]!;
      return out;
    },
  };
}
