/**
 * The join page's node key: shown, exported, imported in its place, reloaded when another tab
 * changes it, and the browser asked to keep it.
 *
 * @module
 */
import type { NodeKey } from "../crypto/keys.ts";
import type { JoinDocument, Lookup } from "./join_document.ts";
import {
  announceNodeKeyChange,
  assertStoredNodeKey,
  importBrowserNodeKey,
  nodeKeyFile,
  onNodeKeyChange,
  readBrowserNodeKey,
} from "./node_key_store.ts";
import type { IndexedDbStateStorage } from "./state_storage.ts";
import { oneTab } from "./tab_lock.ts";

/**
 * What the page's handlers share: the node key this tab shows and stakes, and whether the page has
 * said the operator already stakes other nodes (Join again then stakes anyway).
 */
export interface PageKey {
  key: NodeKey;
  newNodeConfirmed: boolean;
}

/**
 * Shows the key the browser keeps now, after another tab said it changed. Not while this tab is
 * busy (its join runs with its key; an import is under way): Join checks the key again anyway.
 */
async function reloadKey(
  document: JoinDocument,
  $: Lookup,
  storage: IndexedDbStateStorage,
  page: PageKey,
): Promise<void> {
  if ($("join-run").disabled) return;
  const held = await readBrowserNodeKey(storage);
  if (!held || held.publicKeyHex === page.key.publicKeyHex) return;
  page.key = held;
  page.newNodeConfirmed = false;
  $("node-key").textContent = `${held.publicKeyHex} (changed in another tab)`;
  $("join-status").textContent = "not joined: this browser's node key changed in another tab";
  document.body.dataset.join = "";
}

/** The key's export button, and the view's reload when another tab changes the key. */
export function wireKey(
  document: JoinDocument,
  $: Lookup,
  storage: IndexedDbStateStorage,
  page: PageKey,
): void {
  const fail = (e: unknown) => $("join-status").textContent = (e as Error).message;
  onNodeKeyChange(() => reloadKey(document, $, storage, page).catch(fail));
  $("node-export").addEventListener("click", () => {
    exportKey(document, storage, page.key).catch(fail);
  });
}

/** The import of a key file: it holds Join, waits for no other tab, and replaces `page.key`. */
export function wireImport(
  document: JoinDocument,
  $: Lookup,
  storage: IndexedDbStateStorage,
  page: PageKey,
): void {
  $("node-import").addEventListener("click", () => {
    $("node-import").value = ""; // the same file chosen again is a change
  });
  $("node-import").addEventListener("change", () => {
    const file = $("node-import").files?.[0];
    if (!file || $("join-run").disabled) return;
    $("join-run").disabled = true;
    oneTab(async () => {
      const bytes = new Uint8Array(await file.arrayBuffer());
      page.key = await importBrowserNodeKey(storage, bytes, file.name);
      page.newNodeConfirmed = false;
      announceNodeKeyChange();
      $("node-key").textContent = `${page.key.publicKeyHex} (imported from ${file.name})`;
      $("join-status").textContent = "not joined";
      document.body.dataset.join = "";
    }, "import a key").catch((e) => $("join-status").textContent = (e as Error).message)
      .finally(() => $("join-run").disabled = false);
  });
}

/**
 * Asks the browser to keep this site's storage (`navigator.storage.persist()`) and says whether it
 * will. Found in the browser audit: storage is best-effort unless asked, and a browser short of
 * disk evicts it whole: the node key and the kept commits with it. The node's stake then stays
 * locked under a key nobody has, its missed heartbeats and unanswered challenges are slashed, and
 * the next Join stakes a new node.
 */
export async function keepStorage(document: JoinDocument, $: Lookup): Promise<void> {
  const storage = (navigator as { storage?: { persist?: () => Promise<boolean> } }).storage;
  const persisted = await storage?.persist?.().catch(() => false) ?? false;
  document.body.dataset.persisted = persisted ? "1" : "0";
  $("node-storage").textContent = persisted
    ? "This browser keeps the key until you clear this site's data: export it all the same."
    : "This browser may clear the key when its disk runs low: export the key file before " +
      "you join, and import it here if the key shown is ever not your node's.";
}

/**
 * Saves the node key file (what `worker.ts --key` reads): keep it secret. Only the key this browser
 * keeps: a file of a key another tab replaced would pass for this browser's node. Checked without
 * the node lock, which is not re-entrant (this tab's own running join holds it); an import racing
 * the check exports the key that was kept an instant before, which staked nothing.
 */
async function exportKey(
  document: JoinDocument,
  storage: IndexedDbStateStorage,
  key: NodeKey,
): Promise<void> {
  await assertStoredNodeKey(storage, key, { action: "export the node key" });
  const blob = new Blob([nodeKeyFile(key) as Uint8Array<ArrayBuffer>], {
    type: "application/json",
  });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "node.key";
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
