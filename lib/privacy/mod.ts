/**
 * Privacy of training data: DP noise and accounting, adaptive clipping, PII and k-anonymity.
 *
 * Secure aggregation (SecAgg+) has its own module: ./secure_aggregation/mod.ts.
 *
 * @module
 */
export * from "./adaptive_clip.ts";
export * from "./dp.ts";
export * from "./k_anonymity.ts";
export * from "./pii.ts";
export * from "./rdp_accountant.ts";
