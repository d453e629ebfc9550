/** Text from elsewhere on a terminal (lib/network/printable.ts). */
import assert from "node:assert/strict";
import { terminalText } from "../../lib/network/printable.ts";

Deno.test("attacker: a model's escape sequences reach its user's terminal shown, not run", () => {
  // Found in the inference audit: `deno task infer` wrote a byte-level model's output raw, so a
  // published model could emit ESC ] 52 (set the clipboard) or ESC [ 1A (rewrite a line).
  const show = terminalText();
  const osc52 = new TextEncoder().encode("\x1b]52;c;ZXZpbA==\x07");
  const text = [...osc52].map((b) => show(new Uint8Array([b]))).join("");
  assert.equal(text, "\\x1b]52;c;ZXZpbA==\\x07");
  assert.equal(show(new Uint8Array([0xc2, 0x9b])), "\\x9b", "C1's CSI, UTF-8 encoded");
  assert.equal(show(new Uint8Array([0x7f])), "\\x7f");
});

Deno.test("terminalText keeps text, newlines, tabs and characters split across bytes", () => {
  const show = terminalText();
  const bytes = new TextEncoder().encode("héllo\n\tnaïve — ok");
  assert.equal([...bytes].map((b) => show(new Uint8Array([b]))).join(""), "héllo\n\tnaïve — ok");
});

Deno.test("terminalText shows a character the last bytes leave unfinished, rather than dropping it", () => {
  const show = terminalText();
  assert.equal(show(new Uint8Array([0x68, 0xc3])), "h");
  assert.equal(show(new Uint8Array(), true), "\ufffd");
});
