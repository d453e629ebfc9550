/**
 * The worker node: its coordinator client, crash-safe state, training, delivery and loop.
 *
 * @module
 */
export * from "./chores.ts";
export * from "./client.ts";
export * from "./cluster.ts";
export * from "./cluster_check.ts";
export * from "./deliver.ts";
export * from "./events.ts";
export * from "./follow.ts";
export * from "./gateway.ts";
export * from "./register.ts";
export * from "./rewards.ts";
export * from "./sandbox.ts";
export * from "./secure_aggregation.ts";
export * from "./state.ts";
export * from "./task.ts";
export * from "./task_check.ts";
export * from "./train.ts";
export * from "./validate.ts";
export * from "./view.ts";
export * from "./worker.ts";
