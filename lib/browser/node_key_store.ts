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
import { bytesToHex, hexToBytes } from "../crypto/digest.ts";
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

/** The tab's node key from `storage`, or a new one saved there (`created`). */
export async function loadOrCreateBrowserNodeKey(
  storage: StateStorage,
): Promise<{ key: NodeKey; created: boolean }> {
  const bytes = await storage.read(NODE_KEY_RECORD);
  if (bytes) {
    const where = storage.where(NODE_KEY_RECORD);
    const file = JSON.parse(new TextDecoder().decode(bytes)) as { secretKey?: string };
    if (typeof file.secretKey !== "string") {
      throw new Error(`Cannot load node key ${where}: no secretKey; delete it to start over`);
    }
    const key = nodeKeyFromSecret(hexToBytes(file.secretKey));
    return { key, created: false };
  }
  const key = generateNodeKey();
  await storage.write(NODE_KEY_RECORD, nodeKeyFile(key));
  return { key, created: true };
}
