/**
 * Finding and removing personal data in free text before a dataset is shared: e-mail
 * addresses (also with apostrophes, non-ASCII, and obfuscated as `bob [at] example [dot] com`),
 * IBANs (mod-97 checked), payment cards (Luhn and issuer prefix; spaces, dashes or dots),
 * US SSNs, IP addresses, dates of birth (dates in a birth context only), telephone numbers
 * (international, North American, European and Indian layouts, with or without `+`), postal
 * addresses (street lines with their city and postcode; postcodes after a cue) and person
 * names (compromise's tagger plus titles and cues such as "my name is").
 *
 * Structured kinds are matched by pattern and checksum, names by a statistical tagger, so
 * neither is perfect: tests/lib/privacy/pii_eval_test.ts measures precision and recall per
 * kind on a labelled set. Treat redaction as one layer next to k-anonymity and DP.
 *
 * @module
 */
import { findEmails } from "./_pii_email.ts";
import { findPhones } from "./_pii_phone.ts";
import { ibanValid, luhnValid, NUMBER_DETECTORS } from "./_pii_numbers.ts";
import { findDatesOfBirth } from "./_pii_dob.ts";
import { findAddresses } from "./_pii_address.ts";
import { findNames } from "./_pii_name.ts";
import { normaliseForDetection } from "./_pii_normalise.ts";
import type { Span } from "./_pii_span.ts";

export { ibanValid, luhnValid };

/** Kinds of personal data detected. */
export type PiiKind =
  | "email"
  | "phone"
  | "ssn"
  | "ip"
  | "card"
  | "iban"
  | "dob"
  | "address"
  | "name";

/**
 * Every kind, in order of priority: where two detections overlap, the earlier kind wins (an
 * IBAN is not also a phone number, an e-mail's local part is not also a name).
 */
export const PII_KINDS: readonly PiiKind[] = [
  "email",
  "iban",
  "card",
  "ssn",
  "ip",
  "dob",
  "phone",
  "address",
  "name",
];

/** One detected span. */
export interface PiiMatch {
  kind: PiiKind;
  /** Start offset (UTF-16 code units). */
  start: number;
  /** End offset (exclusive). */
  end: number;
  /** The matched text. */
  text: string;
}

/** Options of {@link findPii} and {@link redactPii}. */
export interface FindPiiOptions {
  /** Kinds to look for (default all of {@link PII_KINDS}). */
  kinds?: readonly PiiKind[];
}

/** Result of {@link redactPii}. */
export interface RedactResult {
  /** Text with each match replaced by its placeholder. */
  text: string;
  /** How many matches of each kind were replaced. */
  counts: Record<PiiKind, number>;
}

/** Placeholders written by {@link redactPii}. */
export const PII_PLACEHOLDER: Readonly<Record<PiiKind, string>> = {
  email: "[EMAIL]",
  phone: "[PHONE]",
  ssn: "[SSN]",
  ip: "[IP]",
  card: "[CARD]",
  iban: "[IBAN]",
  dob: "[DOB]",
  address: "[ADDRESS]",
  name: "[NAME]",
};

const DETECTORS: Record<PiiKind, (text: string) => Span[]> = {
  email: findEmails,
  ...NUMBER_DETECTORS,
  dob: findDatesOfBirth,
  phone: findPhones,
  address: findAddresses,
  name: findNames,
};

/**
 * Finds personal data in `text`, sorted by position, without overlaps.
 *
 * @example
 * ```ts
 * import { findPii } from "./pii.ts";
 * const found = findPii("Mail bob [at] example [dot] com or IBAN GB82 WEST 1234 5698 7654 32");
 * console.assert(found.map((m) => m.kind).join() === "email,iban");
 * ```
 */
export function findPii(text: string, options: FindPiiOptions = {}): PiiMatch[] {
  const wanted = new Set(options.kinds ?? PII_KINDS);
  // Same length as `text` (see _pii_normalise.ts): a span found in it is the same span of `text`.
  const probe = normaliseForDetection(text);
  const found: PiiMatch[] = [];
  for (const kind of PII_KINDS) {
    if (!wanted.has(kind)) continue;
    // Longest first, so a detector's own overlapping candidates keep the widest one.
    const spans = DETECTORS[kind](probe).sort((a, b) => b[1] - b[0] - (a[1] - a[0]));
    for (const [start, end] of spans) {
      if (found.some((f) => start < f.end && f.start < end)) continue;
      found.push({ kind, start, end, text: text.slice(start, end) });
    }
  }
  return found.sort((a, b) => a.start - b.start);
}

/**
 * Zero counts for every kind.
 *
 * @example
 * ```ts
 * import { emptyPiiCounts } from "./pii.ts";
 * console.assert(emptyPiiCounts().iban === 0);
 * ```
 */
export function emptyPiiCounts(): Record<PiiKind, number> {
  return Object.fromEntries(PII_KINDS.map((k) => [k, 0])) as Record<PiiKind, number>;
}

/**
 * Replaces personal data with placeholders such as `[EMAIL]`.
 *
 * @example
 * ```ts
 * import { redactPii } from "./pii.ts";
 * const { text, counts } = redactPii("Call Maria Gonzalez on 06 12 34 56 78, born 3 July 1990.");
 * console.assert(text === "Call [NAME] on [PHONE], born [DOB].");
 * console.assert(counts.name === 1 && counts.phone === 1 && counts.dob === 1);
 * ```
 */
export function redactPii(text: string, options: FindPiiOptions = {}): RedactResult {
  const counts = emptyPiiCounts();
  let out = "";
  let at = 0;
  for (const m of findPii(text, options)) {
    out += text.slice(at, m.start) + PII_PLACEHOLDER[m.kind];
    at = m.end;
    counts[m.kind]++;
  }
  return { text: out + text.slice(at), counts };
}
