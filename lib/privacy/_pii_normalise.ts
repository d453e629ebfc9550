/**
 * The copy of a text the PII detectors search (private to pii.ts). The detectors' patterns are
 * written for ASCII spaces, dashes and digits, so a number typed with no-break or narrow spaces
 * (`4111\u00a01111…`, French `+33\u202f6…`), Unicode dashes, full-width forms (`４１１１…`) or
 * another script's digits (`٤١١١…`) went through whole (found in the data owner audit). Rather
 * than teach every pattern every separator, they search a normalised copy.
 *
 * The copy has exactly the length of the text, one UTF-16 code unit for one, so every offset a
 * detector finds in it is the same offset in the original: pii.ts replaces the original's
 * characters, never the copy's. A mapping that changed the length (NFKC, say, which also
 * decomposes ligatures) would shift every span after it and redact the wrong characters.
 *
 * @module
 */

/**
 * Spaces the patterns should read as " ": every space separator, line and paragraph separators,
 * and the invisible ones a form or a PDF leaves between digit groups.
 */
const SPACE = /[\p{Zs}\p{Zl}\p{Zp}\u180e\u200b\u2060\ufeff]/u;
/** Hyphens, dashes, the minus sign and the soft hyphen, read as "-". */
const DASH = /[\u00ad\u2010-\u2015\u2212\ufe58\ufe63\uff0d]/;
const DIGIT = /\p{Nd}/u;
const FULL_WIDTH_FIRST = 0xff01;
const FULL_WIDTH_LAST = 0xff5e;
/** Full-width "！" (U+FF01) is "!" (U+0021): the whole U+FF01-FF5E block is ASCII moved up. */
const FULL_WIDTH_OFFSET = 0xfee0;
/** Every non-ASCII character one of the above changes (ASCII is left alone, and fast). */
const TO_NORMALISE = new RegExp(
  String.raw`(?=[^\x00-\x7f])(?:${SPACE.source}|${DASH.source}|[\uff01-\uff5e]|\p{Nd})`,
  "gu",
);

/**
 * `text` with Unicode spaces as " ", dashes as "-", full-width ASCII as ASCII and other
 * scripts' decimal digits as ASCII digits; same length, so offsets carry over.
 *
 * @example
 * ```ts
 * import { normaliseForDetection } from "./_pii_normalise.ts";
 * console.assert(normaliseForDetection("+33\u202f6\u2012４١") === "+33 6-41");
 * ```
 */
export function normaliseForDetection(text: string): string {
  return text.replace(TO_NORMALISE, normaliseUnit);
}

/** One character's replacement: one code unit for one. */
function normaliseUnit(char: string): string {
  // An astral digit (U+1D7CE "𝟎"...) is two code units; one ASCII digit would shift offsets.
  if (char.length !== 1) return char;
  const code = char.charCodeAt(0);
  if (code >= FULL_WIDTH_FIRST && code <= FULL_WIDTH_LAST) {
    return String.fromCharCode(code - FULL_WIDTH_OFFSET);
  }
  if (SPACE.test(char)) return " ";
  if (DASH.test(char)) return "-";
  return String(digitValue(code));
}

/**
 * The value of a decimal digit (general category Nd). Unicode encodes every script's Nd digits
 * as contiguous runs from 0 to 9 (a stability policy), so the value is how far the digit is
 * from the start of its run, modulo 10 where two scripts' runs touch.
 */
function digitValue(code: number): number {
  let below = 0;
  while (DIGIT.test(String.fromCharCode(code - below - 1))) below++;
  return below % 10;
}
