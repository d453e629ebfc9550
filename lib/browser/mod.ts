/**
 * A node in a browser tab: the join page, its training Web Worker, and the tab's key and state.
 *
 * `kernel_worker.ts` is a Web Worker's entry script (it runs on load), so it is not re-exported.
 *
 * @module
 */
export * from "./browser_worker.ts";
export * from "./find_chromium.ts";
export * from "./injected_wallet.ts";
export * from "./join_document.ts";
export * from "./join_key.ts";
export * from "./join_page.ts";
export * from "./join_tabs.ts";
export * from "./join_worker.ts";
export * from "./kernel_task.ts";
export * from "./node_key_store.ts";
export * from "./open_kernel_worker.ts";
export * from "./state_storage.ts";
export * from "./tab_lock.ts";
export * from "./tiny_task.ts";
