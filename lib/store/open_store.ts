/**
 * Opening the SVDB on the backend the configuration names: `fs` (a directory, the default),
 * `kv` (Deno KV: Deno Deploy, which has no writable filesystem), `helia` (the directory inside
 * a real IPFS light node that serves it over bitswap and fetches missing blocks from the peers it
 * is told to dial; never public ones) or `memory` (tests, tools).
 *
 * @module
 */
import { FsBlockstore } from "./fs_blockstore.ts";
import { KvBlockstore } from "./kv_blockstore.ts";
import { MemoryBlockstore } from "./memory_blockstore.ts";
import { Store, type StoreOptions } from "./store.ts";

/** The backends {@link openStore} can open. */
export const STORE_KINDS = ["fs", "kv", "helia", "memory"] as const;

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
  /** `helia`: listen multiaddrs (default a free loopback TCP port). */
  listen?: string[];
  /** `helia`: peers to dial at start (multiaddrs with /p2p/ ids), e.g. another coordinator. */
  peers?: string[];
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
    case "helia":
      return await openHeliaStore(options);
    case "memory":
      return new Store(new MemoryBlockstore(), options);
    default:
      throw new RangeError(
        `Cannot open store: kind "${options.kind}" is not one of ${STORE_KINDS.join(", ")}`,
      );
  }
}

/**
 * The `fs` store inside a started Helia light node; libp2p is loaded only when asked for, so the
 * other backends do not pay for it.
 */
async function openHeliaStore(options: OpenStoreOptions): Promise<Store> {
  if (!options.dir) throw new TypeError("Cannot open store: kind helia needs a dir");
  const [{ createHeliaPeer }, { HeliaBlockstore }, { multiaddr }] = await Promise.all([
    import("./helia_peer.ts"),
    import("./helia_blockstore.ts"),
    import("@multiformats/multiaddr"),
  ]);
  const local = await FsBlockstore.open(options.dir, options);
  const helia = await createHeliaPeer({ blockstore: local, listen: options.listen });
  for (const peer of options.peers ?? []) {
    const connection = await helia.libp2p.dial(multiaddr(peer));
    await speaksBitswap(helia.libp2p, connection.remotePeer);
  }
  return new Store(new HeliaBlockstore(helia, { local }), options);
}

/**
 * Waits (up to 10 s) until identify has told us the peer speaks bitswap: a want sent before
 * that goes nowhere and the first read would time out.
 */
async function speaksBitswap(
  libp2p: { peerStore: { get(id: unknown): Promise<{ protocols: string[] }> } },
  peer: unknown,
): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const known = await libp2p.peerStore.get(peer).catch(() => undefined);
    if (known?.protocols.some((p) => p.includes("bitswap"))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
