/**
 * A training job as its owner sees it: the spec, its preparation and submission, its record in
 * the owner's folder, its plans and the named recipes.
 *
 * Also the pure rules every party shares about a job (when a round closes, its privacy budget).
 *
 * @module
 */
export * from "./job_cancel.ts";
export * from "./job_cases.ts";
export * from "./job_model.ts";
export * from "./job_owner.ts";
export * from "./job_record.ts";
export * from "./job_spec.ts";
export * from "./job_status.ts";
export * from "./planner.ts";
export * from "./privacy_plan.ts";
export * from "./recipe.ts";
export * from "./round_policy.ts";
export * from "./shards.ts";
export * from "./spec_cache.ts";
export * from "./submit.ts";
