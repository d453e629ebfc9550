/**
 * Spans shared by the PII detectors (private to lib/privacy/pii.ts): a detector returns the
 * `[start, end)` offsets (UTF-16 code units) of what it found.
 *
 * @module
 */

/** A half-open range of a string, in UTF-16 code units. */
export type Span = readonly [start: number, end: number];

/** The spans of `pattern` (a global regex) in `text` that `accept` keeps. */
export function matchSpans(
  text: string,
  pattern: RegExp,
  accept: (match: RegExpExecArray) => boolean = () => true,
): Span[] {
  const out: Span[] = [];
  for (const m of text.matchAll(pattern)) {
    if (accept(m)) out.push([m.index, m.index + m[0].length]);
  }
  return out;
}

/**
 * Whether the `window` characters before `start` match `cue` (a regex ending in `$`); only the
 * same line unless `crossLines`.
 */
export function hasCueBefore(
  text: string,
  start: number,
  cue: RegExp,
  options: { window?: number; crossLines?: boolean } = {},
): boolean {
  const before = text.slice(Math.max(0, start - (options.window ?? 40)), start);
  return cue.test(options.crossLines ? before : before.slice(before.lastIndexOf("\n") + 1));
}

/** Only the digits of `s`. */
export function digitsOf(s: string): string {
  return s.replace(/\D/g, "");
}
