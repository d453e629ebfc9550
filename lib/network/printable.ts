/**
 * Text from elsewhere made safe for a terminal line: control characters shown as \xNN.
 *
 * @module
 */

/**
 * Most characters of a printed line. Found in the worker audit: a coordinator's 500 answer of one
 * 16 MiB line, retried every poll, reached the log whole each time and filled the disk.
 */
export const MAX_PRINTABLE_CHARS = 1_000;

/**
 * `text` with its control characters shown as \xNN, at most {@link MAX_PRINTABLE_CHARS} of it
 * (then saying how long it was). Lines carry text from the coordinator (its error messages, job
 * ids and status fields) and from the chain, which a CLI does not trust: an escape sequence could
 * erase and forge lines (a reward, a withdraw command) or set the clipboard.
 *
 * @example
 * ```ts
 * import { printable } from "./printable.ts";
 * console.assert(printable("ok\x1b[1A") === "ok\\x1b[1A");
 * console.assert(printable("x".repeat(5_000)).endsWith("(5000 characters, cut)"));
 * ```
 */
export function printable(text: string): string {
  // Cut before escaping: escaping a 16 MiB line whole would cost its memory several times over.
  const head = text.length > MAX_PRINTABLE_CHARS ? text.slice(0, MAX_PRINTABLE_CHARS) : text;
  // deno-lint-ignore no-control-regex
  const shown = head.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
  if (shown.length <= MAX_PRINTABLE_CHARS && head === text) return shown;
  return `${shown.slice(0, MAX_PRINTABLE_CHARS)}… (${text.length} characters, cut)`;
}
