/**
 * Aggregation: the Strategy interface, one rule per file, and the round's one combine step.
 *
 * Server optimizers (FedAvgM, DiLoCo, FedAdam) move the global weights by the combined delta.
 *
 * @module
 */
export * from "./bulyan.ts";
export * from "./combine_round.ts";
export * from "./dp_fed_avg.ts";
export * from "./exact_weighted_mean.ts";
export * from "./fed_avg.ts";
export * from "./fed_buff.ts";
export * from "./fed_median.ts";
export * from "./fixed_point_sum.ts";
export * from "./hierarchical.ts";
export * from "./krum.ts";
export * from "./layerwise.ts";
export * from "./outer_optimizer.ts";
export * from "./partitioned.ts";
export * from "./select.ts";
export * from "./server_adam.ts";
export * from "./server_optimizer.ts";
export * from "./slot_fed_avg.ts";
export * from "./slot_sum.ts";
export * from "./strategy.ts";
export * from "./streaming_fed_avg.ts";
export * from "./trimmed_mean.ts";
