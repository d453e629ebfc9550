/** A tab's node key file, imported from the attacker's side (lib/browser/node_key_store.ts). */
import assert from "node:assert/strict";
import {
  assertStoredNodeKey,
  importBrowserNodeKey,
  loadOrCreateBrowserNodeKey,
  NODE_KEY_RECORD,
  nodeKeyFile,
  nodeKeyFromFile,
} from "../../../lib/browser/node_key_store.ts";
import { MemoryStateStorage } from "../../../lib/browser/state_storage.ts";
import { generateNodeKey } from "../../../lib/crypto/keys.ts";

const encode = (body: unknown) => new TextEncoder().encode(JSON.stringify(body));

Deno.test("a key file exported by the page (or worker.ts --key) imports as the same key", async () => {
  const storage = new MemoryStateStorage();
  const key = generateNodeKey();
  const imported = await importBrowserNodeKey(storage, nodeKeyFile(key), "node.key");
  assert.equal(imported.publicKeyHex, key.publicKeyHex);
  const loaded = await loadOrCreateBrowserNodeKey(storage);
  assert.deepEqual([loaded.key.publicKeyHex, loaded.created], [key.publicKeyHex, false]);
});

Deno.test("a bad key file is refused with its reason, and the tab keeps its key", async (t) => {
  const storage = new MemoryStateStorage();
  const { key: kept } = await loadOrCreateBrowserNodeKey(storage);
  const other = generateNodeKey();
  const file = JSON.parse(new TextDecoder().decode(nodeKeyFile(other)));
  const cases: [string, Uint8Array, RegExp][] = [
    ["not JSON", new TextEncoder().encode("ssh-ed25519 AAAA"), /not a key file/],
    ["not UTF-8", new Uint8Array([0xff, 0xfe, 0x7b]), /not a key file/],
    ["an X25519 key file", encode({ ...file, algorithm: "X25519" }), /not a version 1 Ed25519/],
    ["no secret", encode({ ...file, secretKey: undefined }), /no 32-byte secretKey/],
    ["a short secret", encode({ ...file, secretKey: "0x1234" }), /no 32-byte secretKey/],
    // Someone hands over a file naming a staked node's public key with their own secret.
    [
      "an edited public key",
      encode({ ...file, publicKey: kept.publicKeyHex }),
      /publicKey does not match its secretKey/,
    ],
  ];
  for (const [name, bytes, reason] of cases) {
    await t.step(name, async () => {
      assert.throws(() => nodeKeyFromFile(bytes, "x.key"), reason);
      await assert.rejects(importBrowserNodeKey(storage, bytes, "x.key"), /x\.key/);
      const now = await loadOrCreateBrowserNodeKey(storage);
      assert.equal(now.key.publicKeyHex, kept.publicKeyHex, "the old key is still the tab's");
    });
  }
  await storage.write(NODE_KEY_RECORD, new TextEncoder().encode("{"));
  await assert.rejects(loadOrCreateBrowserNodeKey(storage), /delete it to start over/);
});

Deno.test("victim: importing another key over a node that has worked here is refused, and loses nothing", async () => {
  // Found reviewing the import: the worker's records (its state, the commits it must answer
  // challenges on) are the current node's, not keyed by node; importing another key gave them
  // to it, and the current key, maybe staked and never exported, was gone.
  const storage = new MemoryStateStorage();
  const { key: current } = await loadOrCreateBrowserNodeKey(storage);
  await storage.write("commits", new TextEncoder().encode("[]"));
  const other = generateNodeKey();

  await assert.rejects(
    importBrowserNodeKey(storage, nodeKeyFile(other), "other.key"),
    new RegExp(`node ${current.publicKeyHex} has worked here.*another browser profile`),
  );
  assert.equal((await loadOrCreateBrowserNodeKey(storage)).key.publicKeyHex, current.publicKeyHex);
  // Its own key file imported again changes nothing and is fine.
  await importBrowserNodeKey(storage, nodeKeyFile(current), "node.key");
});

Deno.test("victim: a tab holding a key another tab replaced is refused before it stakes or exports", async () => {
  // Found in the browser audit: a tab read the key once when it opened; another tab of the same
  // browser imported a key file over it, and Join in the first tab staked a key kept nowhere.
  // Prepare: two tabs over one browser's storage.
  const storage = new MemoryStateStorage();
  const { key: tabA } = await loadOrCreateBrowserNodeKey(storage);
  const { key: tabB } = await loadOrCreateBrowserNodeKey(storage);
  await assertStoredNodeKey(storage, tabA, { action: "join" });

  // Execute: tab B imports another key.
  const imported = await importBrowserNodeKey(storage, nodeKeyFile(generateNodeKey()), "n.key");

  // Assert: tab A's key refused, naming both keys; tab B's imported key accepted.
  for (const action of ["join", "export the node key"]) {
    await assert.rejects(
      assertStoredNodeKey(storage, tabA, { action }),
      (e: Error & { code?: string; expected?: string; actual?: string }) =>
        e.code === "NODE_KEY_CHANGED" && e.expected === tabA.publicKeyHex &&
        e.actual === imported.publicKeyHex &&
        e.message.startsWith(`Cannot ${action}: this browser's node key changed in another tab`),
    );
  }
  assert.equal(tabB.publicKeyHex, tabA.publicKeyHex);
  await assertStoredNodeKey(storage, imported, { action: "join" });
});

Deno.test("victim: a tab whose browser lost the key keeps it again instead of refusing", async () => {
  // Found reviewing the check above: with the site's data cleared while a node ran, Export (and
  // Join) refused and said to reload, which made a new key: the staked key, kept only in the
  // tab, was lost for good. Prepare: the browser's record gone.
  const storage = new MemoryStateStorage();
  const { key } = await loadOrCreateBrowserNodeKey(storage);
  await storage.remove(NODE_KEY_RECORD);

  // Execute
  await assertStoredNodeKey(storage, key, { action: "export the node key" });

  // Assert: kept again, so a reload shows the same node.
  assert.equal((await loadOrCreateBrowserNodeKey(storage)).key.publicKeyHex, key.publicKeyHex);
});

Deno.test("victim: a key kept again is read back, so a tab opened meanwhile cannot leave it unkept", async () => {
  // Found reviewing the write-back: a tab opened at the same moment saw no key either and saved a
  // new one over this tab's, which then staked a key the browser no longer kept. Prepare: the
  // record gone, and another tab's new key landing right after this tab writes its own.
  const other = nodeKeyFile(generateNodeKey());
  class RacedStorage extends MemoryStateStorage {
    armed = false;
    override async write(name: string, bytes: Uint8Array): Promise<void> {
      await super.write(name, bytes);
      if (this.armed && name === NODE_KEY_RECORD) await super.write(name, other);
    }
  }
  const storage = new RacedStorage();
  const { key } = await loadOrCreateBrowserNodeKey(storage);
  await storage.remove(NODE_KEY_RECORD);
  storage.armed = true;

  // Execute
  const refused = assertStoredNodeKey(storage, key, { action: "join" });

  // Assert
  await assert.rejects(refused, (e: Error & { code?: string }) => e.code === "NODE_KEY_CHANGED");
});
