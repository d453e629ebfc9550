/**
 * SVDB storage: content-addressed blocks and files over memory, Deno KV, a directory or Helia.
 *
 * @module
 */
export * from "./atomic.ts";
export * from "./blockstore.ts";
export * from "./bounded_body.ts";
export * from "./cid.ts";
export * from "./collect_garbage.ts";
export * from "./fs_blockstore.ts";
export * from "./helia_blockstore.ts";
export * from "./helia_peer.ts";
export * from "./kv_blockstore.ts";
export * from "./memory_blockstore.ts";
export * from "./open_store.ts";
export * from "./spool.ts";
export * from "./store.ts";
export * from "./upload_signature.ts";
