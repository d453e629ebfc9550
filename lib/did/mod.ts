/**
 * Decentralised identities (`did:artha`): documents, the registry, and data-access grants.
 *
 * @module
 */
export * from "./data_access.ts";
export * from "./dataset_share.ts";
export * from "./did.ts";
export * from "./did_document.ts";
export * from "./registry.ts";
export * from "./resolve.ts";
