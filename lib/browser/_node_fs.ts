/**
 * What the browser bundle gets for `node:fs`: kernel/wasm_module.ts and kernel/data.ts import it
 * for their file loaders, which a page never calls (it instantiates the kernel from fetched bytes
 * and trains on fetched shards). Anything that does call them fails with a clear message.
 *
 * @module
 */

function unavailable(name: string): never {
  throw new Error(`Cannot ${name} in a browser: no filesystem (fetch the bytes instead)`);
}

/** Stands in for node:fs readFileSync. */
export function readFileSync(..._args: unknown[]): never {
  return unavailable("readFileSync");
}

/** Stands in for node:fs readdirSync. */
export function readdirSync(..._args: unknown[]): never {
  return unavailable("readdirSync");
}
