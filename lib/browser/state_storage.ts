/**
 * Where a browser tab keeps its worker state ({@link StateStorage} of lib/worker/state.ts): one
 * IndexedDB object store, so an update trained but not yet delivered survives a reload, or a Map
 * when nothing should survive (tests, private windows).
 *
 * @example
 * ```ts
 * import { MemoryStateStorage } from "./state_storage.ts";
 * import { WorkerState } from "../worker/state.ts";
 * const state = new WorkerState(new MemoryStateStorage());
 * await state.savePending({ jobId: "0x01", round: 3, envelope: "{}" });
 * console.assert((await state.pending())?.round === 3);
 * ```
 */
import type { StateStorage } from "../worker/state.ts";

/** Records in a Map: survives nothing but the page. */
export class MemoryStateStorage implements StateStorage {
  #records = new Map<string, Uint8Array>();

  read(name: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.#records.get(name)?.slice());
  }

  write(name: string, bytes: Uint8Array): Promise<void> {
    this.#records.set(name, bytes.slice());
    return Promise.resolve();
  }

  rename(from: string, to: string): Promise<void> {
    const bytes = this.#records.get(from);
    if (bytes) {
      this.#records.set(to, bytes);
      this.#records.delete(from);
    }
    return Promise.resolve();
  }

  remove(name: string): Promise<void> {
    this.#records.delete(name);
    return Promise.resolve();
  }

  where(name: string): string {
    return `memory:${name}`;
  }
}

// Deno's type libraries have no IndexedDB: the few shapes used here, as browsers define them.
interface IdbRequest<T = unknown> {
  readonly result: T;
  readonly error: DOMException | null;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface IdbObjectStore {
  get(key: string): IdbRequest;
  put(value: unknown, key: string): IdbRequest;
  delete(key: string): IdbRequest;
}
interface IdbTransaction {
  readonly error: DOMException | null;
  objectStore(name: string): IdbObjectStore;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
}
/** The part of a browser's IDBDatabase this module uses. */
export interface IdbDatabase {
  readonly name: string;
  transaction(store: string, mode: "readonly" | "readwrite"): IdbTransaction;
  createObjectStore(name: string): unknown;
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: (() => void) | null;
}
interface IdbFactory {
  open(name: string, version: number): IdbOpenRequest;
}

/** The object store every record of a tab's worker lives in. */
export const STATE_STORE = "worker-state";

/**
 * Records in an IndexedDB object store (one transaction per call, so each write is whole or
 * absent). Open with {@link openIndexedDbStateStorage}.
 */
export class IndexedDbStateStorage implements StateStorage {
  readonly db: IdbDatabase;

  constructor(db: IdbDatabase) {
    this.db = db;
  }

  read(name: string): Promise<Uint8Array | undefined> {
    return this.#run("readonly", (s) => s.get(name)).then((v) =>
      v instanceof Uint8Array ? v : undefined
    );
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    await this.#run("readwrite", (s) => s.put(bytes.slice(), name));
  }

  async rename(from: string, to: string): Promise<void> {
    await this.#run("readwrite", (s) => {
      const get = s.get(from);
      get.onsuccess = () => {
        if (get.result === undefined) return;
        s.put(get.result, to);
        s.delete(from);
      };
      return get;
    });
  }

  async remove(name: string): Promise<void> {
    await this.#run("readwrite", (s) => s.delete(name));
  }

  where(name: string): string {
    return `indexeddb:${this.db.name}/${STATE_STORE}/${name}`;
  }

  /** Runs one request in its own transaction; resolves when the transaction commits. */
  #run(
    mode: "readonly" | "readwrite",
    request: (s: IdbObjectStore) => IdbRequest,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(STATE_STORE, mode);
      const req = request(tx.objectStore(STATE_STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error("Cannot save worker state: aborted"));
    });
  }
}

/** Opens (creating on first use) the database `name` with the worker-state store. */
export function openIndexedDbStateStorage(name = "artha-worker"): Promise<IndexedDbStateStorage> {
  return new Promise((resolve, reject) => {
    const factory = (globalThis as unknown as { indexedDB?: IdbFactory }).indexedDB;
    if (!factory) throw new Error("Cannot open worker state: no IndexedDB here");
    const open = factory.open(name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STATE_STORE);
    open.onsuccess = () => resolve(new IndexedDbStateStorage(open.result));
    open.onerror = () => reject(open.error);
  });
}
