/**
 * Cryptographic helpers: digests, keys, the signing domain, Merkle trees, AEAD and key wrapping.
 *
 * @module
 */
export * from "./aead.ts";
export * from "./dataset_cipher.ts";
export * from "./digest.ts";
export * from "./domain.ts";
export * from "./enc_key.ts";
export * from "./key_wrap.ts";
export * from "./keys.ts";
export * from "./merkle.ts";
export * from "./prng.ts";
export * from "./secure_rng.ts";
