/**
 * Text from elsewhere made safe for a terminal line: control characters shown as \xNN.
 *
 * @module
 */

/**
 * `text` with its control characters shown as \xNN. Lines carry text from the coordinator (its
 * error messages, job ids and status fields) and from the chain, which a CLI does not trust: an
 * escape sequence could erase and forge lines (a reward, a withdraw command) or set the clipboard.
 *
 * @example
 * ```ts
 * import { printable } from "./printable.ts";
 * console.assert(printable("ok\x1b[1A") === "ok\\x1b[1A");
 * ```
 */
export function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}
