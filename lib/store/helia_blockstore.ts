/**
 * Helia (IPFS) {@link Blockstore}: blocks live in a Helia node; a block that is not local
 * is fetched from connected peers over bitswap. The {@link Store} on top re-verifies
 * every block, so a lying peer yields {@link CidMismatchError}, never wrong bytes.
 *
 * Pins and leases are kept in the node's local store when it has one of ours (see
 * `createHeliaPeer`), else in its datastore under `/artha/pins/` and `/artha/leases/`. Blocks
 * must be kept by codec (a raw block is not a dag-pb node): `createHeliaPeer` always gives the
 * node one of our blockstores, which do; a node whose blockstore keys by hash alone still gets
 * every read bounded by the {@link Store}.
 *
 * @module
 */
import type { Spool } from "./spool.ts";
import type { Helia } from "helia";
import { Key } from "interface-datastore";
import { type CID, parseCid } from "./cid.ts";
import { BlockNotFoundError, type Blockstore, type Lease } from "./blockstore.ts";
import { concatBytes } from "../crypto/digest.ts";

/** The part of the node's libp2p the re-dial uses. */
interface Libp2pView {
  getConnections(): { remotePeer: { toString(): string } }[];
  peerStore: { all(): Promise<{ id: { toString(): string }; addresses: unknown[] }[]> };
  dial(peer: unknown, options?: { signal?: AbortSignal }): Promise<unknown>;
}

/** Options of {@link HeliaBlockstore}. */
export interface HeliaBlockstoreOptions {
  /** How long `get` waits for peers to deliver a missing block. Default 10 000 ms. */
  timeoutMs?: number;
  /** How long one want waits before it is made again (within `timeoutMs`). Default 3 000 ms. */
  wantMs?: number;
  /** Never ask the network; only local blocks. Default false. */
  offline?: boolean;
  /** Stop the Helia node on `close()`. Default true. */
  stopOnClose?: boolean;
  /**
   * The node's local blockstore when it was created with one (see `createHeliaPeer`):
   * pins and temp-file cleanup then go there and persist with it.
   */
  local?: Blockstore;
}

const PIN_PREFIX = "/artha/pins/";
const LEASE_PREFIX = "/artha/leases/";

/**
 * Wraps a started Helia node.
 *
 * @example
 * ```ts ignore
 * import { createHeliaPeer } from "./helia_peer.ts";
 * import { HeliaBlockstore } from "./helia_blockstore.ts";
 * import { Store } from "./store.ts";
 * const store = new Store(new HeliaBlockstore(await createHeliaPeer()));
 * const cid = await store.put(new Uint8Array([1]));
 * await store.close();
 * ```
 */
export class HeliaBlockstore implements Blockstore {
  /** The wrapped node. */
  readonly helia: Helia;
  readonly #timeoutMs: number;
  readonly #wantMs: number;
  readonly #offline: boolean;
  readonly #stopOnClose: boolean;
  readonly #local: Blockstore | undefined;

  /** @param helia a started node @param options timeouts and ownership */
  constructor(helia: Helia, options: HeliaBlockstoreOptions = {}) {
    this.helia = helia;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#wantMs = options.wantMs ?? 3_000;
    this.#offline = options.offline ?? false;
    this.#stopOnClose = options.stopOnClose ?? true;
    this.#local = options.local;
  }

  /** Stores the block in the node (and so offers it to peers). */
  async put(cid: CID, bytes: Uint8Array): Promise<void> {
    await this.helia.blockstore.put(cid, bytes);
  }

  /**
   * Local block, or one fetched from peers within the timeout, asked for again every
   * `wantMs`: bitswap sends a want to the peers connected when it is made and does not resend
   * it, so a want lost on a reset stream (or made while a connection was being re-established)
   * would otherwise wait out the whole timeout. Before asking again, known peers that are no
   * longer connected are dialled. @throws {BlockNotFoundError}
   */
  async get(cid: CID): Promise<Uint8Array> {
    if (this.#offline && !(await this.has(cid))) throw new BlockNotFoundError(cid);
    const deadline = Date.now() + this.#timeoutMs;
    let cause: unknown;
    for (let left = this.#timeoutMs; left > 0; left = deadline - Date.now()) {
      try {
        return await this.#want(cid, Math.min(left, this.#wantMs));
      } catch (e) {
        cause = e;
      }
      if (deadline - Date.now() > 0) await this.#redial();
    }
    throw new BlockNotFoundError(cid, { cause });
  }

  /** One want of `cid`, given up after `ms`. */
  async #want(cid: CID, ms: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    const signal = AbortSignal.timeout(ms);
    for await (const part of this.helia.blockstore.get(cid, { signal })) parts.push(part);
    return parts.length === 1 ? parts[0]! : concatBytes(...parts);
  }

  /** Dials the known peers that have no open connection (errors ignored: the next want tells). */
  async #redial(): Promise<void> {
    const { libp2p } = this.helia as unknown as { libp2p: Libp2pView };
    const connected = new Set(libp2p.getConnections().map((c) => c.remotePeer.toString()));
    const known = await libp2p.peerStore.all();
    await Promise.all(
      known.filter((p) => p.addresses.length > 0 && !connected.has(p.id.toString()))
        .map((p) => libp2p.dial(p.id, { signal: AbortSignal.timeout(2_000) }).catch(() => {})),
    );
  }

  /** Whether the block is in the node's local blockstore. */
  has(cid: CID): Promise<boolean> {
    return Promise.resolve(this.helia.blockstore.has(cid));
  }

  /** Deletes the local copy. */
  async delete(cid: CID): Promise<void> {
    await this.helia.blockstore.delete(cid);
  }

  /** Every local block, as its local store names it (gc compares multihashes). */
  async *blocks(): AsyncIterable<CID> {
    for await (const pair of this.helia.blockstore.getAll()) yield pair.cid;
  }

  /** Records a pin in the local store, else in the node's datastore. */
  async putPin(cid: CID): Promise<void> {
    if (this.#local) return await this.#local.putPin(cid);
    await this.helia.datastore.put(new Key(PIN_PREFIX + cid.toString()), new Uint8Array());
  }

  /** Removes a pin. */
  async deletePin(cid: CID): Promise<void> {
    if (this.#local) return await this.#local.deletePin(cid);
    await this.helia.datastore.delete(new Key(PIN_PREFIX + cid.toString()));
  }

  /** Every pin root. */
  async *pins(): AsyncIterable<CID> {
    if (this.#local) return yield* this.#local.pins();
    for await (const pair of this.helia.datastore.query({ prefix: PIN_PREFIX })) {
      yield parseCid(pair.key.toString().slice(PIN_PREFIX.length));
    }
  }

  /** Records a lease in the local store, else in the node's datastore. */
  async putLease(cid: CID, expiresAt: number): Promise<void> {
    if (this.#local) return await this.#local.putLease(cid, expiresAt);
    const key = new Key(LEASE_PREFIX + cid.toString());
    let existing: number | undefined;
    try {
      existing = decodeExpiry(await this.helia.datastore.get(key));
    } catch {
      // no lease yet
    }
    if (existing !== undefined && existing >= expiresAt) return;
    await this.helia.datastore.put(key, new TextEncoder().encode(String(Math.floor(expiresAt))));
  }

  /** Removes a lease. */
  async deleteLease(cid: CID): Promise<void> {
    if (this.#local) return await this.#local.deleteLease(cid);
    await this.helia.datastore.delete(new Key(LEASE_PREFIX + cid.toString()));
  }

  /** Every lease. */
  async *leases(): AsyncIterable<Lease> {
    if (this.#local) return yield* this.#local.leases();
    for await (const pair of this.helia.datastore.query({ prefix: LEASE_PREFIX })) {
      const cid = parseCid(pair.key.toString().slice(LEASE_PREFIX.length));
      yield { cid, expiresAt: decodeExpiry(pair.value) ?? 0 };
    }
  }

  /** The local store's spool, if it has one. */
  get openSpool(): (() => Promise<Spool>) | undefined {
    return this.#local?.openSpool?.bind(this.#local);
  }

  /** Cleans leftovers of interrupted writes in the local store, if it has any. */
  removeTemporary(minAgeMs?: number): Promise<number> {
    return this.#local?.removeTemporary?.(minAgeMs) ?? Promise.resolve(0);
  }

  /** Stops the node and closes its local store (unless `stopOnClose: false`). */
  async close(): Promise<void> {
    if (!this.#stopOnClose) return;
    await this.helia.stop();
    await this.#local?.close();
  }
}

function decodeExpiry(bytes: Uint8Array): number | undefined {
  const ms = Number(new TextDecoder().decode(bytes));
  return Number.isFinite(ms) ? ms : undefined;
}
