/**
 * Top-k sparsification with error feedback: send the k largest-magnitude entries (fp32
 * values, gap-varint indices) and keep the rest in the client's residual, which is added to
 * the next round's delta (Stich et al. 2018, "Sparsified SGD with memory"). Without the
 * residual, small coordinates would never be sent and training drifts.
 *
 * Body: k (uint32) | k fp32 values | k gap-coded indices.
 *
 * @module
 */
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
import { readFloat32s, writeFloat32s } from "./_blockwise.ts";
import { resolveK, selectTopK } from "./_top_k.ts";

/** How many entries a sparse codec keeps: `k`, or else `fraction` of the delta (default 1%). */
export interface TopKOptions {
  k?: number;
  fraction?: number;
}

/**
 * Creates the top-k codec.
 *
 * @example
 * ```ts
 * import { createErrorFeedback } from "./codec.ts";
 * import { topKCodec } from "./top_k.ts";
 * const codec = topKCodec({ k: 1 });
 * const state = createErrorFeedback(3);
 * const { bytes } = codec.encode(new Float32Array([0.1, -3, 0.2]), state);
 * console.assert(codec.decode(bytes, 3)[1] === -3 && state.residual[2] === Math.fround(0.2));
 * ```
 */
export function topKCodec(options: TopKOptions = {}): Codec {
  resolveK(1, options); // validate early
  return {
    name: "topk",
    id: CODEC_ID.topk,
    encode(delta: Float32Array, state?: ErrorFeedbackState): EncodeResult {
      const values = withResidual(delta, state);
      const k = resolveK(values.length, options);
      const indices = selectTopK(values, k);
      const kept = new Float32Array(k);
      for (let j = 0; j < k; j++) kept[j] = values[indices[j]!]!;
      const gaps = encodeIndexGaps(indices);
      const bytes = writeHeader(CODEC_ID.topk, 0, values.length, 4 + k * 4 + gaps.length);
      new DataView(bytes.buffer).setUint32(HEADER_BYTES, k, true);
      writeFloat32s(bytes, HEADER_BYTES + 4, kept);
      bytes.set(gaps, HEADER_BYTES + 4 + k * 4);
      if (state) {
        // residual = corrected - sent: the sent coordinates are exact, so they become 0.
        state.residual.set(values);
        for (let j = 0; j < k; j++) state.residual[indices[j]!] = 0;
      }
      return { bytes, state };
    },
    decode(bytes: Uint8Array, length: number): Float32Array {
      expectHeader(bytes, CODEC_ID.topk, length);
      const k = readCount(bytes, length);
      const valuesEnd = HEADER_BYTES + 4 + k * 4;
      if (bytes.length < valuesEnd) {
        throw new InvalidPayloadError(
          `top-k values truncated: ${bytes.length} < ${valuesEnd} bytes`,
        );
      }
      const kept = readFloat32s(bytes, HEADER_BYTES + 4, k);
      const { indices, end } = decodeIndexGaps(bytes, valuesEnd, k, length);
      if (end !== bytes.length) {
        throw new InvalidPayloadError(`${bytes.length - end} trailing bytes after top-k indices`);
      }
      const out = new Float32Array(length);
      for (let j = 0; j < k; j++) out[indices[j]!] = kept[j]!;
      return out;
    },
  };
}

/** Reads the uint32 entry count after the header and checks it against `length`. */
export function readCount(bytes: Uint8Array, length: number): number {
  if (bytes.length < HEADER_BYTES + 4) {
    throw new InvalidPayloadError(`sparse body truncated before its entry count`);
  }
  const k = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(
    HEADER_BYTES,
    true,
  );
  if (k > length) throw new InvalidPayloadError(`entry count ${k} exceeds ${length} values`);
  return k;
}
