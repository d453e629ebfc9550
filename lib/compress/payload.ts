/**
 * Decoding by header: an aggregator receives payloads from many clients, possibly with
 * different codecs, and dispatches on the codec id each header names.
 *
 * @module
 */
import { type Codec, CODEC_ID, InvalidPayloadError, readHeader } from "./codec.ts";
import { fp32Codec } from "./fp32.ts";
import { int4Codec } from "./quantize_int4.ts";
import { int8Codec } from "./quantize_int8.ts";
import { topKCodec } from "./top_k.ts";
import { topKInt8Codec } from "./top_k_int8.ts";
import { partitionCodec } from "./partition.ts";

// Decoding reads every parameter (block size, k) from the payload, so default options do.
const DECODERS: ReadonlyMap<number, Codec> = new Map<number, Codec>([
  [CODEC_ID.fp32, fp32Codec()],
  [CODEC_ID.topk, topKCodec()],
  [CODEC_ID.int8, int8Codec()],
  [CODEC_ID.int4, int4Codec()],
  [CODEC_ID.topkInt8, topKInt8Codec()],
  [CODEC_ID.partition, partitionCodec({ seed: 0, slot: 0 })],
]);

/**
 * Decodes any payload written by a lib/compress codec into `length` fp32 values.
 *
 * @throws {InvalidPayloadError} when the header or body is malformed or the codec unknown
 * @example
 * ```ts
 * import { decodePayload } from "./payload.ts";
 * import { int8Codec } from "./quantize_int8.ts";
 * const { bytes } = int8Codec().encode(new Float32Array([0.5, 1]));
 * console.assert(decodePayload(bytes, 2)[1] === 1);
 * ```
 */
export function decodePayload(bytes: Uint8Array, length: number): Float32Array {
  const { codecId } = readHeader(bytes);
  const codec = DECODERS.get(codecId);
  if (!codec) {
    throw new InvalidPayloadError(
      `codec id ${codecId} is unknown (known: ${[...DECODERS.keys()].join(", ")})`,
    );
  }
  return codec.decode(bytes, length);
}
