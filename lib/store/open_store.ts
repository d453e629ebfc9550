/**
 * Opening the SVDB on the backend the configuration names: `fs` (a directory, the default),
 * `kv` (Deno KV: Deno Deploy, which has no writable filesystem) or `memory` (tests, tools).
 *
 * @module
 */
import { FsBlockstore } from "./fs_blockstore.ts";
import { KvBlockstore } from "./kv_blockstore.ts";
import { MemoryBlockstore } from "./memory_blockstore.ts";
import { Store, type StoreOptions } from "./store.ts";

/** The backends {@link openStore} can open. */
export const STORE_KINDS = ["fs", "kv", "memory"] as const;

/** One of {@link STORE_KINDS}. */
export type StoreKind = typeof STORE_KINDS[number];

/** Options of {@link openStore}. */
export interface OpenStoreOptions extends StoreOptions {
  /** The backend. */
  kind: StoreKind;
  /** `fs`: the store's directory (required). */
  dir?: string;
  /**
   * `kv`: an open database to share (left open by `close()`), or a path to open (closed with
   * the store). Default: `Deno.openKv()`, the project's database on Deno Deploy.
   */
  kv?: Deno.Kv | string;
  /** `kv`: first parts of the SVDB's keys. Default `["svdb"]`. */
  prefix?: Deno.KvKey;
  /** `fs`: fsync every block before publishing it. Default true. */
  sync?: boolean;
}

/**
 * Whether `value` names a backend (to check a configuration value).
 *
 * @example
 * ```ts
 * import { isStoreKind } from "./open_store.ts";
 * console.assert(isStoreKind("kv") && !isStoreKind("s3"));
 * ```
 */
export function isStoreKind(value: string): value is StoreKind {
  return (STORE_KINDS as readonly string[]).includes(value);
}

/**
 * Opens a {@link Store} on the backend `kind` names.
 *
 * @throws {TypeError} for `fs` without `dir`
 * @throws {RangeError} for an unknown `kind`
 * @example
 * ```ts
 * import { openStore } from "./open_store.ts";
 * const kv = await Deno.openKv(":memory:");
 * const store = await openStore({ kind: "kv", kv }); // blocks under ["svdb", …] beside other state
 * const cid = await store.put(new TextEncoder().encode("weights"));
 * console.assert(new TextDecoder().decode(await store.get(cid)) === "weights");
 * await store.close(); // a shared database stays open
 * kv.close();
 * ```
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  switch (options.kind) {
    case "fs": {
      if (!options.dir) throw new TypeError("Cannot open store: kind fs needs a dir");
      return new Store(await FsBlockstore.open(options.dir, options), options);
    }
    case "kv": {
      const { kv, prefix } = options;
      const blocks = typeof kv === "object"
        ? new KvBlockstore(kv, { prefix })
        : await KvBlockstore.open(kv, { prefix });
      return new Store(blocks, options);
    }
    case "memory":
      return new Store(new MemoryBlockstore(), options);
    default:
      throw new RangeError(
        `Cannot open store: kind "${options.kind}" is not one of ${STORE_KINDS.join(", ")}`,
      );
  }
}
