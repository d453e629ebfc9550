/**
 * Model files: tensors, checkpoints, the published Hugging Face-style folder and its cache.
 *
 * @module
 */
export * from "./checkpoint.ts";
export * from "./hf_model.ts";
export * from "./model_cache.ts";
export * from "./model_folder.ts";
export * from "./publish.ts";
export * from "./tensors.ts";
