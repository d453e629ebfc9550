/**
 * Dates of birth (private to pii.ts). A date is personal data here only in a birth context
 * ("born", "DOB", "date of birth", "birthday", "b.", "né le", "Geburtsdatum", "nacido" within
 * 40 characters before it on the same line): ordinary dates (deadlines, releases, "July 4,
 * 1776") are what datasets are made of and are kept. Formats: `14/03/1985`, `11-23-1958`,
 * `07.08.1975`, `1979-11-02`, `1992.10.05`, `3 July 1990`, `21st of September 1999`,
 * `March 5, 1962`, `5 Jan 2001`, and month-year `August 1964`.
 *
 * @module
 */
import { hasCueBefore, matchSpans, type Span } from "./_pii_span.ts";

const MONTH = "(?:January|February|March|April|May|June|July|August|September|October|" +
  "November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\\.?";
const DAY = String.raw`\d{1,2}(?:st|nd|rd|th)?`;
const DATE = new RegExp(
  [
    String.raw`\d{1,2}[.\/-]\d{1,2}[.\/-](?:\d{4}|\d{2})`,
    String.raw`\d{4}[.\/-]\d{1,2}[.\/-]\d{1,2}`,
    String.raw`${DAY}(?:\s+of)?\s+${MONTH},?\s+\d{4}`,
    String.raw`${MONTH}\s+${DAY},?\s+\d{4}`,
    String.raw`${MONTH}\s+\d{4}`,
  ].map((p) => `(?<![\\p{L}\\p{N}])${p}(?![\\p{L}\\p{N}]|[.\\/-]\\d)`).join("|"),
  "giu",
);
const BIRTH_CUE = new RegExp(
  String.raw`(?:(?<![\p{L}])(?:born|birth(?:day|date)?|dob|d\.o\.b\.?|b\.|n[ée]e?|geboren|` +
    String.raw`geburtsdatum|nacid[oa]|nat[oa]|naissance|nascita|nacimiento)(?![\p{L}]))` +
    String.raw`[^.\n]{0,30}$`,
  "iu",
);

/** Dates in a birth context. */
export function findDatesOfBirth(text: string): Span[] {
  return matchSpans(text, DATE, (m) => hasCueBefore(text, m.index, BIRTH_CUE));
}
