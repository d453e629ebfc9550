/**
 * Running a network: the local chain, deployment, preflight checks and how a CLI ends.
 *
 * @module
 */
export * from "./cli.ts";
export * from "./deploy_network.ts";
export * from "./local_chain.ts";
export * from "./preflight.ts";
export * from "./printable.ts";
