/**
 * A tab's node key: an Ed25519 key (lib/crypto/keys.ts) created on the first visit and kept in the
 * tab's {@link StateStorage} (IndexedDB) as a key file, the same JSON `worker.ts --key` reads, so
 * it can be exported and the node moved to a laptop worker.
 *
 * @example
 * ```ts
 * import { loadOrCreateBrowserNodeKey } from "./node_key_store.ts";
 * import { MemoryStateStorage } from "./state_storage.ts";
 * const storage = new MemoryStateStorage();
 * const a = await loadOrCreateBrowserNodeKey(storage);
 * const b = await loadOrCreateBrowserNodeKey(storage);
 * console.assert(a.created && !b.created && a.key.publicKeyHex === b.key.publicKeyHex);
 * ```
 */
import { bytesToHex, type Hex, hexToBytes } from "../crypto/digest.ts";
import { generateNodeKey, type NodeKey, nodeKeyFromSecret } from "../crypto/keys.ts";
import type { StateStorage } from "../worker/state.ts";

/** The record the key file is kept in. */
export const NODE_KEY_RECORD = "node-key";

/** The key file's bytes: what lib/crypto/keys.ts saveNodeKey writes. */
export function nodeKeyFile(key: NodeKey): Uint8Array {
  const body = {
    version: 1,
    algorithm: "Ed25519",
    publicKey: key.publicKeyHex,
    secretKey: bytesToHex(key.secretKey),
  };
  return new TextEncoder().encode(JSON.stringify(body, null, 2) + "\n");
}

/**
 * The node key of a key file's bytes (this page's export, or the `worker.ts --key` file), checked
 * as the CLI checks it: version 1, Ed25519, a 32-byte secret, and a public key that matches it.
 *
 * @throws {Error} naming `where` and what is wrong
 * @example
 * ```ts
 * import { nodeKeyFile, nodeKeyFromFile } from "./node_key_store.ts";
 * import { generateNodeKey } from "../crypto/keys.ts";
 * const key = generateNodeKey();
 * console.assert(nodeKeyFromFile(nodeKeyFile(key), "a.key").publicKeyHex === key.publicKeyHex);
 * ```
 */
export function nodeKeyFromFile(bytes: Uint8Array, where: string): NodeKey {
  const what = `Cannot load node key ${where}`;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new Error(`${what}: not a key file (not JSON)`);
  }
  if (body?.version !== 1 || body.algorithm !== "Ed25519") {
    throw new Error(`${what}: not a version 1 Ed25519 key file`);
  }
  if (typeof body.secretKey !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(body.secretKey)) {
    throw new Error(`${what}: no 32-byte secretKey`);
  }
  const key = nodeKeyFromSecret(hexToBytes(body.secretKey as Hex));
  if (typeof body.publicKey === "string" && body.publicKey.toLowerCase() !== key.publicKeyHex) {
    throw new Error(`${what}: its publicKey does not match its secretKey (file edited?)`);
  }
  return key;
}

/** The node key `storage` keeps now, or undefined when it keeps none. */
export async function readBrowserNodeKey(storage: StateStorage): Promise<NodeKey | undefined> {
  const bytes = await storage.read(NODE_KEY_RECORD);
  if (!bytes) return undefined;
  try {
    return nodeKeyFromFile(bytes, storage.where(NODE_KEY_RECORD));
  } catch (e) {
    throw new Error(`${(e as Error).message}; delete it to start over`);
  }
}

/** The tab's node key from `storage`, or a new one saved there (`created`). */
export async function loadOrCreateBrowserNodeKey(
  storage: StateStorage,
): Promise<{ key: NodeKey; created: boolean }> {
  const held = await readBrowserNodeKey(storage);
  if (held) return { key: held, created: false };
  const key = generateNodeKey();
  await storage.write(NODE_KEY_RECORD, nodeKeyFile(key));
  return { key, created: true };
}

/**
 * Thrown when a tab's node key is no longer the one its browser keeps: another tab imported a
 * key file (or made a key) since this tab read it. Callers branch on `code`.
 */
export class NodeKeyChangedError extends Error {
  readonly code = "NODE_KEY_CHANGED";
  /** The key this tab holds (and shows). */
  readonly expected: Hex;
  /** The key the browser keeps now; undefined when it keeps none. */
  readonly actual: Hex | undefined;

  constructor(params: { action: string; expected: Hex; actual: Hex | undefined }) {
    super(
      `Cannot ${params.action}: this browser's node key changed in another tab: reload this ` +
        `page (this tab shows ${params.expected}; the browser now keeps ` +
        `${params.actual ?? "no key"})`,
    );
    this.name = "NodeKeyChangedError";
    this.expected = params.expected;
    this.actual = params.actual;
  }
}

/**
 * Throws {@link NodeKeyChangedError} when `storage` keeps another key than `key` (and keeps `key`
 * again when it keeps none). Found in the browser
 * audit: a tab read the key once when it opened; another tab then imported a key file over it, and
 * Join staked the old key, which then lived only in the first tab's memory: closing it locked the
 * stake under a key nobody had. Call it holding the node lock, before anything is staked.
 *
 * @example
 * ```ts
 * import {
 *   assertStoredNodeKey,
 *   importBrowserNodeKey,
 *   loadOrCreateBrowserNodeKey,
 *   nodeKeyFile,
 * } from "./node_key_store.ts";
 * import { MemoryStateStorage } from "./state_storage.ts";
 * import { generateNodeKey } from "../crypto/keys.ts";
 * const storage = new MemoryStateStorage(); // one browser, two tabs
 * const { key: tabA } = await loadOrCreateBrowserNodeKey(storage);
 * await importBrowserNodeKey(storage, nodeKeyFile(generateNodeKey()), "node.key"); // tab B
 * const e = await assertStoredNodeKey(storage, tabA, { action: "join" }).catch((e) => e);
 * console.assert(e.code === "NODE_KEY_CHANGED");
 * ```
 */
export async function assertStoredNodeKey(
  storage: StateStorage,
  key: NodeKey,
  options: { action: string },
): Promise<void> {
  const held = await readBrowserNodeKey(storage);
  if (held?.publicKeyHex === key.publicKeyHex) return;
  // Kept nowhere else (site data cleared, storage evicted): this tab's copy is the only one, and
  // may be a staked node's. Found reviewing this check: refusing told the user to reload, which
  // made a new key and lost the staked one for good; it is kept again instead.
  if (held === undefined) {
    await storage.write(NODE_KEY_RECORD, nodeKeyFile(key));
    // A tab opened meanwhile may have made its own key over this one (found reviewing this):
    // read it back, so this tab stakes only a key the browser keeps.
    const kept = await readBrowserNodeKey(storage);
    if (kept?.publicKeyHex === key.publicKeyHex) return;
    throw new NodeKeyChangedError({
      ...options,
      expected: key.publicKeyHex,
      actual: kept?.publicKeyHex,
    });
  }
  throw new NodeKeyChangedError({
    action: options.action,
    expected: key.publicKeyHex,
    actual: held?.publicKeyHex,
  });
}

/**
 * Makes the key file `bytes` this tab's node key, in place of the one it has: for a node whose key
 * the browser lost (site data cleared, or storage evicted when the disk ran low), or one moved
 * from a laptop. Checked whole before anything is written.
 *
 * @example
 * ```ts
 * import { importBrowserNodeKey, loadOrCreateBrowserNodeKey, nodeKeyFile } from "./node_key_store.ts";
 * import { MemoryStateStorage } from "./state_storage.ts";
 * import { generateNodeKey } from "../crypto/keys.ts";
 * const storage = new MemoryStateStorage();
 * const old = generateNodeKey();
 * await importBrowserNodeKey(storage, nodeKeyFile(old), "node.key");
 * console.assert((await loadOrCreateBrowserNodeKey(storage)).key.publicKeyHex === old.publicKeyHex);
 * ```
 */
export async function importBrowserNodeKey(
  storage: StateStorage,
  bytes: Uint8Array,
  where: string,
): Promise<NodeKey> {
  const key = nodeKeyFromFile(bytes, where);
  const held = await storage.read(NODE_KEY_RECORD);
  const current = held ? nodeKeyFromFile(held, storage.where(NODE_KEY_RECORD)) : undefined;
  if (current && current.publicKeyHex !== key.publicKeyHex) {
    // The worker's records (its state, the commits it must answer challenges on) are the current
    // node's, not keyed by node: found reviewing the import, another key took them over, and the
    // current key (maybe staked, maybe never exported) was gone.
    for (const record of WORKER_RECORDS) {
      if (await storage.read(record)) {
        throw new Error(
          `Cannot import ${where}: this browser's node ${current.publicKeyHex} has worked here ` +
            "(its kept commits must still answer challenges); export its key, and import " +
            `${key.publicKeyHex} in another browser profile`,
        );
      }
    }
  }
  await storage.write(NODE_KEY_RECORD, nodeKeyFile(key));
  return key;
}

/** The BroadcastChannel on which a tab tells the browser's other tabs its node key changed. */
export const NODE_KEY_CHANNEL = "artha-node-key";

/** The BroadcastChannel API, as far as this module uses it (absent in some browsers). */
interface KeyChannel {
  onmessage: (() => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}
type KeyChannelConstructor = new (name: string) => KeyChannel;

/** Tells the browser's other open tabs that its node key changed; nothing without the API. */
export function announceNodeKeyChange(): void {
  const Channel = (globalThis as { BroadcastChannel?: KeyChannelConstructor }).BroadcastChannel;
  if (!Channel) return;
  const channel = new Channel(NODE_KEY_CHANNEL);
  channel.postMessage("changed");
  channel.close();
}

/**
 * Calls `onChange` whenever another tab says the browser's node key changed; returns the stop.
 * Only a hint for the view (read the key again): a message can be missed (a frozen tab, no
 * BroadcastChannel), so what stakes checks with {@link assertStoredNodeKey} all the same.
 */
export function onNodeKeyChange(onChange: () => void): () => void {
  const Channel = (globalThis as { BroadcastChannel?: KeyChannelConstructor }).BroadcastChannel;
  if (!Channel) return () => {};
  const channel = new Channel(NODE_KEY_CHANNEL);
  channel.onmessage = onChange;
  return () => channel.close();
}

/** The records a worker keeps of its node's work (lib/worker/state.ts). */
const WORKER_RECORDS = ["state", "commits"];
