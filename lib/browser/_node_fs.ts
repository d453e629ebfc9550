/**
 * What the browser bundle gets for `node:fs`: kernel/wasm_module.ts, kernel/data.ts and
 * lib/strategy/_aggregate_wasm.ts import it for their file loaders. A page never calls the kernel's
 * (it instantiates the kernel from fetched bytes and trains on fetched shards); the aggregation
 * kernels load aggregate.wasm synchronously on first use, so the Web Worker fetches it first and
 * {@link provideFile}s it. Reading anything else fails with a clear message.
 *
 * @module
 */

/** Files fetched ahead, by URL. */
const provided = new Map<string, Uint8Array>();

/** Makes `readFileSync(url)` answer `bytes` (fetched by the caller from its own origin). */
export function provideFile(url: URL | string, bytes: Uint8Array): void {
  provided.set(String(url), bytes);
}

function unavailable(name: string, path: unknown): never {
  throw new Error(
    `Cannot ${name} ${String(path)} in a browser: no filesystem (fetch the bytes instead)`,
  );
}

/** Stands in for node:fs readFileSync: only files provided before. */
export function readFileSync(path: unknown, ..._args: unknown[]): Uint8Array {
  return provided.get(String(path)) ?? unavailable("readFileSync", path);
}

/** Stands in for node:fs readdirSync. */
export function readdirSync(path: unknown, ..._args: unknown[]): never {
  return unavailable("readdirSync", path);
}
