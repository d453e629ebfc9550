/**
 * Telephone numbers (private to pii.ts), by layout rather than by country rules, so the same
 * patterns cover the shapes people type:
 * - international: `+44 20 7946 0958`, `+1 (415) 555-0132`, `+4915123456789`, `0044 20 ...`,
 *   `+44 (0)20 ...` (8-15 digits after the prefix, E.164's limit);
 * - North American 3-3-4: `(212) 555-0187`, `415.555.0132`, `1-800-555-0100`, `347 123 4567`;
 * - national numbers with a trunk 0 (UK, France, Germany, Italy, Netherlands, India...):
 *   `020 7946 0123`, `06 12 34 56 78`, `01.42.68.53.00`, `089/1234567`, `011-23456789`
 *   (9-12 digits);
 * - Indian mobiles `98765 43210`, Spanish `612 34 56 78` / `91 123 45 67`;
 * - any other run of 8-15 digits right after a phone word ("mobile:", "call", "tel.",
 *   "WhatsApp", "my number is"), e.g. `9876543210` or `44 7700 900123`, and a local number
 *   without its area code there (`tel 555-0132`); 9-15 digits after a word that is often not
 *   about phones ("text", "sms", "contact", "number" heading a line).
 * Dates, times, decimals and thousands (`2 500 000`) do not fit these shapes.
 *
 * @module
 */
import { digitsOf, matchSpans, type Span } from "./_pii_span.ts";

// Never start inside a word or a number, never end before more digits.
const START = String.raw`(?<![\p{L}\p{N}_+.,\/-])`;
const END = String.raw`(?![\p{L}\p{N}_]|[.,\/-]\d)`;
const SEP = String.raw`[ .\-]`;

const INTERNATIONAL = new RegExp(
  String.raw`(?<![\p{L}\p{N}_+])(?:\+|00)[1-9]\d{0,3}(?:${SEP}?\(0\))?` +
    String.raw`(?:[ .\/\-]?\(?\d{1,5}\)?){1,7}${END}`,
  "gu",
);
const NORTH_AMERICAN = new RegExp(
  String.raw`${START}(?:1${SEP}?)?(?:\([2-9]\d{2}\)${SEP}?|[2-9]\d{2}${SEP})\d{3}${SEP}\d{4}${END}`,
  "gu",
);
const TRUNK = new RegExp(
  String.raw`${START}\(?0\d{1,4}\)?(?:[ .\/\-]?\d{2,8}){1,5}${END}`,
  "gu",
);
const INDIAN_MOBILE = new RegExp(String.raw`${START}[6-9]\d{4}[ \-]\d{5}${END}`, "gu");
const SPANISH = new RegExp(
  String.raw`${START}(?:[6-9]\d{2}(?: \d{2}){3}|[89]\d \d{3}(?: \d{2}){2})${END}`,
  "gu",
);
const ANY_DIGITS = new RegExp(
  String.raw`${START}\(?\d(?:[ .\-]?\(?\d\)?){6,14}${END}`,
  "gu",
);
/**
 * A local number without its area code, `555-0132`: a phone only right after a strong cue. Its
 * first digit is an exchange's (2-9, as in North America), so "100 1000" is a figure.
 */
const LOCAL = /^[2-9]\d{2}[ .\-]?\d{4}$/;
// Words that mean a telephone in nearly every use.
const PHONE_WORD = String.raw`(?:phone|tel|telephone|telefon|t[ée]l[ée]phone|mobile?|cell|call|` +
  String.raw`ring|dial|whats ?app|fax|landline|ph)`;
// Words that often mean something else ("text 2024 0101", "contact 100 1000"): alone they cue
// only longer numbers; followed by "number" they are as strong as a phone word.
const WEAK_PHONE_WORD = "(?:sms|text|contact)";
const CUE_END = String.raw`[\s:.#-]*(?:(?:is|was|as|on|at|to)\s+)?$`;
/**
 * Words after which a run of digits is a phone number, whatever its layout: a phone word, maybe
 * with "number" ("tel no.", "call number", "contact number"), or a possessive's number ("my
 * number is"). After another noun it is not: "order number 12345678", "part number
 * 4410-2231-0098".
 */
const STRONG_CUE = new RegExp(
  String.raw`(?:\b${PHONE_WORD}\b(?:[ \t]+(?:number|no\.?|#))?|` +
    String.raw`\b${WEAK_PHONE_WORD}[ \t]+(?:number|no\.?|#)|` +
    String.raw`\b(?:my|his|her|your|their|our)\s+(?:phone |mobile |cell )?(?:number|no\.?))` +
    CUE_END,
  "iu",
);
/**
 * Weaker cues: "sms", "text" or "contact" alone, or "number" heading a line or a clause
 * ("Number: 4155550132"). `\n` stands for the line's start (see `cueBefore`). A count or a date
 * reads the same way ("Number 1000 1000 items", "ticket #, number 12345678", "Text 2024 0101"),
 * so these take nine digits or more, where eight-digit figures and dates end.
 */
const WEAK_CUE = new RegExp(
  String.raw`(?:\b${WEAK_PHONE_WORD}\b|(?:\n|[^\p{L}\p{N}\s])[ \t]*number)${CUE_END}`,
  "iu",
);
const WEAK_MIN_DIGITS = 9;
const CUE_WINDOW = 30;
const DATE_LIKE = /^\d{1,4}[.\/-]\d{1,2}[.\/-]\d{1,4}$/;

function digitsBetween(min: number, max: number) {
  return (m: RegExpExecArray) => {
    const n = digitsOf(m[0]).length;
    return n >= min && n <= max && !DATE_LIKE.test(m[0]);
  };
}

/**
 * Whether `cue` matches the up to `CUE_WINDOW` characters of the line before `start`. A window
 * that reaches the line's start opens with "\n"; one that cuts the line opens with the character
 * before the cut, so the cut is neither a line start nor the start of a word ("microphone").
 */
function cueBefore(text: string, start: number, cue: RegExp): boolean {
  const lineStart = text.lastIndexOf("\n", start - 1) + 1;
  const from = Math.max(lineStart, start - CUE_WINDOW);
  const before = (from === lineStart ? "\n" : text[from - 1]) + text.slice(from, start);
  return cue.test(before);
}

/** Telephone numbers in the layouts above. */
export function findPhones(text: string): Span[] {
  return [
    ...matchSpans(text, INTERNATIONAL, (m) => {
      const n = digitsOf(m[0]).length - (m[0].startsWith("00") ? 2 : 0);
      return n >= 8 && n <= 15;
    }),
    ...matchSpans(text, NORTH_AMERICAN),
    ...matchSpans(text, TRUNK, digitsBetween(9, 12)),
    ...matchSpans(text, INDIAN_MOBILE),
    ...matchSpans(text, SPANISH),
    ...matchSpans(text, ANY_DIGITS, (m) => {
      if (cueBefore(text, m.index, STRONG_CUE)) return digitsBetween(8, 15)(m) || LOCAL.test(m[0]);
      return digitsBetween(WEAK_MIN_DIGITS, 15)(m) && cueBefore(text, m.index, WEAK_CUE);
    }),
  ];
}
