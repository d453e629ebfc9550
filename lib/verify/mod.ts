/**
 * Verification: challenges, committees, disputes, and the recomputation that settles them.
 *
 * @module
 */
export * from "./challenge_chain.ts";
export * from "./chunk_openings.ts";
export * from "./commit_retention.ts";
export * from "./committee_chain.ts";
export * from "./dispute_chain.ts";
export * from "./dispute_responder.ts";
export * from "./noise_check.ts";
export * from "./recompute.ts";
export * from "./redundancy.ts";
export * from "./responder.ts";
export * from "./steps_tree.ts";
export * from "./validation_task.ts";
