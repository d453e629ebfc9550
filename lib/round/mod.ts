/**
 * One round on a node: local training, its step proofs, the update envelope and cluster tasks.
 *
 * @module
 */
export * from "./cluster_task.ts";
export * from "./local_training.ts";
export * from "./round_task.ts";
export * from "./secure_session.ts";
export * from "./train_proof.ts";
export * from "./update_envelope.ts";
export * from "./update_stream.ts";
