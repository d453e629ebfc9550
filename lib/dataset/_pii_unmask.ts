/**
 * A second copy of a text for the PII detectors (private to redact_records.ts), undoing the
 * masks that let items through lib/privacy/pii.ts (found in the data owner audit):
 * invisible format characters inside an address (`jsmith\u200b@…`, a soft hyphen, a zero-width
 * joiner, a word joiner, a BOM: pii.ts reads them as a space or a dash, which splits it), an
 * encoded "@" (`jsmith%40example.com`, `&#64;`), an "@" with spaces around it
 * (`jsmith @ example.com`) and zero-padded IPv4 octets (`192.168.001.010`).
 *
 * Unlike pii.ts's own normalised copy, this one changes the length, so it comes with a map from
 * each of its code units to where that unit ends in the original: a span found in the copy is
 * turned back into the original's span, invisible characters and all, and the original's
 * characters are what get replaced. The copy only adds to what the text itself yields (the
 * detectors still search the text too): removing a soft hyphen from `123\u00ad45\u00ad6789`
 * would otherwise turn an SSN pii.ts finds into nine bare digits it finds only after a cue.
 *
 * @module
 */
import { findPii, PII_KINDS, type PiiMatch } from "../privacy/pii.ts";

/** A copy of a text and, for each code unit of the copy, the original offset it ends at. */
export interface UnmaskedCopy {
  text: string;
  /**
   * `ends[i]` is where the copy's unit `i` ends in the original; it starts where unit `i - 1`
   * ended, so characters removed before a unit belong to it.
   */
  ends: number[];
}

/** One change: the original's [start, end) becomes `by`. */
type Edit = [start: number, end: number, by: string];

/** Format characters (general category Cf): invisible, they only mask what is around them. */
const FORMAT = /\p{Cf}/gu;
/** "@" URL-encoded or as an HTML character reference. */
const ENCODED_AT = /%40|&#0*64;|&#x0*40;|&commat;/giu;
const LABEL = String.raw`[\p{L}\p{N}](?:[\p{L}\p{N}_-]*[\p{L}\p{N}])?`;
/**
 * An "@" (ASCII, full-width or small) after a word with spaces around it, or after it only,
 * followed by a dotted domain: "meet @ 5pm" and "@ home" stay, and so does a handle
 * ("thanks @jane.doe"), which a space before and none after would otherwise join to "thanks".
 */
const SPACED_AT = new RegExp(
  String
    .raw`(?<=[\p{L}\p{N}_])(?:[\p{Zs}\t]+[@\uff20\ufe6b][\p{Zs}\t]+|[@\uff20\ufe6b][\p{Zs}\t]+)` +
    String.raw`(?=${LABEL}(?:\.${LABEL})*\.\p{L}{2,}(?![\p{L}\p{N}]))`,
  "gu",
);
/** A dotted quad as pii.ts bounds one; its octets are checked below. */
const DOTTED_QUAD = /(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?!\d|\.\d)/g;
const OCTET_MAX = 255;

/**
 * `text` with format characters removed, "%40" (and `&#64;`, `&#x40;`, `&commat;`) read as "@",
 * the spaces around an "@" before a dotted domain closed, and the leading zeros of a zero-padded
 * dotted quad removed; with the map back to `text`.
 *
 * @example
 * ```ts
 * import { unmaskForDetection } from "./_pii_unmask.ts";
 * const copy = unmaskForDetection("a\u200b%40b.io");
 * console.assert(copy.text === "a@b.io" && copy.ends.join() === "1,5,6,7,8,9");
 * ```
 */
export function unmaskForDetection(text: string): UnmaskedCopy {
  const first = applyEdits(text, [
    ...editsOf(text, FORMAT, () => ""),
    ...editsOf(text, ENCODED_AT, () => "@"),
  ]);
  const second = applyEdits(first.text, [
    ...editsOf(first.text, SPACED_AT, () => "@"),
    ...zeroPaddingEdits(first.text),
  ]);
  return { text: second.text, ends: second.ends.map((end) => first.ends[end - 1]!) };
}

/**
 * What findPii finds in `text` or in its unmasked copy, as spans of `text`, sorted and without
 * overlaps: where a span of one overlaps a span of the other, they become one span over both,
 * of the kind that comes first in PII_KINDS, counted once. The copy is searched only when it
 * differs from the text, so a text with nothing masked costs one search.
 *
 * @example
 * ```ts
 * import { findPiiUnmasked } from "./_pii_unmask.ts";
 * const [m] = findPiiUnmasked("mail jsmith\u00ad@example.com now");
 * console.assert(m?.kind === "email" && m.start === 5 && m.end === 24);
 * ```
 */
export function findPiiUnmasked(text: string): PiiMatch[] {
  const found = findPii(text);
  const copy = unmaskForDetection(text);
  if (copy.text === text) return found;
  const mapped = findPii(copy.text).map((m) => {
    const start = m.start === 0 ? 0 : copy.ends[m.start - 1]!;
    const end = copy.ends[m.end - 1]!;
    return { ...m, start, end, text: text.slice(start, end) };
  });
  return mergeOverlapping(text, [...found, ...mapped]);
}

/** One edit per match of `pattern` (global) in `text`. */
function editsOf(text: string, pattern: RegExp, by: (m: string) => string): Edit[] {
  return [...text.matchAll(pattern)].map((m) => [m.index, m.index + m[0].length, by(m[0])]);
}

/**
 * Removes the leading zeros of each octet of a dotted quad with a zero-padded octet and every
 * octet at most 255, so pii.ts's IPv4 pattern (no leading zeros) sees `192.168.1.10`.
 */
function zeroPaddingEdits(text: string): Edit[] {
  const edits: Edit[] = [];
  for (const m of text.matchAll(DOTTED_QUAD)) {
    const octets = m[0].split(".");
    if (!octets.some((o) => /^0\d/.test(o)) || octets.some((o) => Number(o) > OCTET_MAX)) {
      continue;
    }
    let at = m.index;
    for (const octet of octets) {
      const zeros = octet.length - (octet.replace(/^0+/, "") || "0").length;
      if (zeros > 0) edits.push([at, at + zeros, ""]);
      at += octet.length + 1;
    }
  }
  return edits;
}

/** `text` with `edits` (non-overlapping) applied, and where each unit of the result ends in it. */
function applyEdits(text: string, edits: Edit[]): UnmaskedCopy {
  edits.sort((a, b) => a[0] - b[0]);
  let out = "";
  const ends: number[] = [];
  let at = 0;
  const keep = (to: number) => {
    out += text.slice(at, to);
    for (let i = at + 1; i <= to; i++) ends.push(i);
  };
  for (const [start, end, by] of edits) {
    if (start < at) continue; // overlaps one applied already
    keep(start);
    out += by;
    // A replacement's units all end where the replaced text ends.
    for (let i = 0; i < by.length; i++) ends.push(end);
    at = end;
  }
  keep(text.length);
  return { text: out, ends };
}

/** Sorted `matches` with overlapping ones merged (see {@link findPiiUnmasked}). */
function mergeOverlapping(text: string, matches: PiiMatch[]): PiiMatch[] {
  const rank = (m: PiiMatch) => PII_KINDS.indexOf(m.kind);
  const out: PiiMatch[] = [];
  for (const m of matches.sort((a, b) => a.start - b.start || b.end - a.end)) {
    const last = out.at(-1);
    if (!last || m.start >= last.end) {
      out.push({ ...m });
      continue;
    }
    last.end = Math.max(last.end, m.end);
    if (rank(m) < rank(last)) last.kind = m.kind;
    last.text = text.slice(last.start, last.end);
  }
  return out;
}
