/**
 * Account and network numbers with a checkable structure (private to pii.ts): payment cards
 * (Luhn, a card-issuer prefix, one separator kind: spaces or tabs, dashes or dots), IBANs (country
 * length and ISO 7064 mod-97 check; groups apart by spaces or dashes), US SSNs (SSA's invalid ranges excluded; nine digits in a row
 * after an SSN cue such as "SSN:" or "social security number") and IPv4/IPv6
 * addresses.
 *
 * @module
 */
import { digitsOf, hasCueBefore, matchSpans, type Span } from "./_pii_span.ts";

// Groups apart by one kind of separator: a space, dot or dash, or one or two spaces or tabs (a
// spreadsheet's export, a hand-typed form).
const CARD =
  /(?<![\p{L}\p{N}_.,-])\d(?:(?:[.\-]|[ \t]{1,2})?\d){12,18}(?![\p{L}\p{N}_]|[.,\-]\d)/gu;
// Visa 4, Mastercard 51-55 and 2221-2720, Amex 34/37, Diners 30/36/38, JCB 35, Discover and
// UnionPay 6: other 13-19 digit runs (ISBNs, order numbers) are left alone.
const CARD_PREFIX = /^(?:4|5[1-5]|2[2-7]|3[0-8]|6)/;

const SSN =
  /(?<![\p{L}\p{N}_-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\p{L}\p{N}_-])/gu;
/** Nine digits in a row, the SSA's invalid ranges excluded: an SSN only after an SSN cue. */
const BARE_SSN =
  /(?<![\p{L}\p{N}_-])(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}(?![\p{L}\p{N}_-])/gu;
/** Words after which nine digits are a social security number, unformatted as they often are. */
const SSN_CUE =
  /(?:\bssn|\bsocial[\s-]+security(?:[\s-]+(?:number|no\.?|#))?|\bsocial[\s-]+sec\.?)[\s:.#-]*(?:(?:is|was|:)\s*)?$/i;

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(String.raw`(?<![\d.])(?:${OCTET}\.){3}${OCTET}(?!\d|\.\d)`, "g");
const IPV6 = /(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])/g;

const IBAN_CANDIDATE = /(?<![\p{L}\p{N}_])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){11,30}/gu;
/** IBAN length per country (SWIFT IBAN registry). */
// deno-fmt-ignore
const IBAN_LENGTH: Record<string, number> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22,
  IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20,
  LU: 20, LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15,
  PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19,
  SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};

/**
 * The Luhn checksum used by payment cards.
 *
 * @example
 * ```ts
 * import { luhnValid } from "./_pii_numbers.ts";
 * console.assert(luhnValid("4111111111111111") && !luhnValid("4111111111111112"));
 * ```
 */
export function luhnValid(digits: string): boolean {
  if (!/^\d{2,}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * Whether `iban` (spaces or dashes between its characters allowed, any case) has its country's length and a valid ISO 7064
 * mod-97 check.
 *
 * @example
 * ```ts
 * import { ibanValid } from "./_pii_numbers.ts";
 * console.assert(ibanValid("DE89 3704 0044 0532 0130 00"));
 * console.assert(!ibanValid("DE89 3704 0044 0532 0130 01"));
 * ```
 */
export function ibanValid(iban: string): boolean {
  const compact = iban.replace(/[ -]/g, "").toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(compact)) return false;
  if (IBAN_LENGTH[compact.slice(0, 2)] !== compact.length) return false;
  let rest = 0;
  for (const ch of compact.slice(4) + compact.slice(0, 4)) {
    const code = ch.charCodeAt(0);
    const value = code <= 57 ? code - 48 : code - 55; // "A" is 10, "Z" is 35
    rest = (rest * (value > 9 ? 100 : 10) + value) % 97;
  }
  return rest === 1;
}

function findCards(text: string): Span[] {
  return matchSpans(text, CARD, (m) => {
    const digits = digitsOf(m[0]);
    const separators = new Set(m[0].replace(/\d/g, ""));
    const firstGroup = m[0].split(/[ .\-\t]+/)[0]!;
    return separators.size <= 1 && (separators.size === 0 || firstGroup.length === 4) &&
      CARD_PREFIX.test(digits) && luhnValid(digits);
  });
}

/** IBANs: a candidate is cut at its country's length, so a following word is not eaten. */
function findIbans(text: string): Span[] {
  const out: Span[] = [];
  const candidates = new RegExp(IBAN_CANDIDATE);
  for (let m = candidates.exec(text); m; m = candidates.exec(text)) {
    const end = m.index + ibanLength(m[0]);
    const accepted = end > m.index && !/[\p{L}\p{N}]/u.test(text[end] ?? "") &&
      ibanValid(text.slice(m.index, end));
    if (accepted) out.push([m.index, end]);
    candidates.lastIndex = accepted ? end : m.index + 1;
  }
  return out;
}

/** How many characters of `candidate` (separators included) its country's IBAN takes; 0 if none. */
function ibanLength(candidate: string): number {
  const length = IBAN_LENGTH[candidate.slice(0, 2).toUpperCase()];
  if (length === undefined) return 0;
  let seen = 0;
  let at = 0;
  while (at < candidate.length && seen < length) if (!" -".includes(candidate[at++]!)) seen++;
  return seen === length ? at : 0;
}

function isIpv6(candidate: string): boolean {
  if (!candidate.includes("::") && candidate.split(":").length !== 8) return false;
  try {
    new URL(`http://[${candidate}]/`);
    return true;
  } catch {
    return false;
  }
}

/** The detectors of IBANs, payment cards, SSNs and IP addresses, by kind. */
export const NUMBER_DETECTORS = {
  iban: findIbans,
  card: findCards,
  ssn: (text: string): Span[] => [
    ...matchSpans(text, SSN),
    ...matchSpans(text, BARE_SSN, (m) => hasCueBefore(text, m.index, SSN_CUE, { window: 30 })),
  ],
  ip: (text: string): Span[] => [
    ...matchSpans(text, IPV4),
    ...matchSpans(text, IPV6, (m) => isIpv6(m[0])),
  ],
};
