/**
 * Update codecs: how a node's delta is encoded for the wire (fp32, int8/int4, top-k, partition).
 *
 * @module
 */
export * from "./codec.ts";
export * from "./delta.ts";
export * from "./fp32.ts";
export * from "./partition.ts";
export * from "./payload.ts";
export * from "./quantize_int4.ts";
export * from "./quantize_int8.ts";
export * from "./top_k.ts";
export * from "./top_k_int8.ts";
