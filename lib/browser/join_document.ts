/**
 * The join page's document as its modules use it (Deno has no DOM types).
 *
 * @module
 */

/** What the page needs of its document, as browsers define it. */
export interface JoinDocument {
  body: { dataset: Record<string, string | undefined> };
  getElementById(id: string): JoinElement | null;
  createElement(tag: "a"): { href: string; download: string; click(): void };
}
/** An element of the join form. */
export interface JoinElement {
  textContent: string | null;
  value?: string;
  disabled?: boolean;
  /** A file input's chosen files. */
  files?: ArrayLike<{ name: string; arrayBuffer(): Promise<ArrayBuffer> }> | null;
  addEventListener(type: string, listener: () => void): void;
}

/** An element of the page by id (the page's own markup: missing means a broken page). */
export type Lookup = (id: string) => JoinElement;
