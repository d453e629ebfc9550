/**
 * The coordinator's logic as plain functions over KV, store and chain, for functions/ handlers.
 *
 * Each verb returns a typed result (`{ ok }` or a rejection with a stable `code`).
 *
 * @module
 */
export * from "./access_log.ts";
export * from "./challenges.ts";
export * from "./close_trigger.ts";
export * from "./closing.ts";
export * from "./cluster_intake.ts";
export * from "./clusters.ts";
export * from "./committees.ts";
export * from "./context.ts";
export * from "./data_grants.ts";
export * from "./disputes.ts";
export * from "./finalize.ts";
export * from "./follow_up.ts";
export * from "./grant_keys.ts";
export * from "./intake.ts";
export * from "./job.ts";
export * from "./json_rpc.ts";
export * from "./large_value.ts";
export * from "./model_limits.ts";
export * from "./model_listing.ts";
export * from "./model_openai.ts";
export * from "./models.ts";
export * from "./nodes.ts";
export * from "./once.ts";
export * from "./privacy.ts";
export * from "./reassign.ts";
export * from "./redundancy.ts";
export * from "./register.ts";
export * from "./release_updates.ts";
export * from "./result.ts";
export * from "./round_apply.ts";
export * from "./round_close.ts";
export * from "./round_combine.ts";
export * from "./secure_round.ts";
export * from "./signed_request.ts";
export * from "./single_flight.ts";
export * from "./start_job.ts";
export * from "./state.ts";
export * from "./status.ts";
export * from "./svdb_access.ts";
export * from "./svdb_gateway.ts";
export * from "./svdb_private.ts";
export * from "./svdb_private_upload.ts";
export * from "./svdb_retention.ts";
export * from "./tasks.ts";
