/**
 * Finding and removing personal data in free text before a dataset is shared: e-mail
 * addresses, phone numbers, US SSN-like numbers, IPv4/IPv6 addresses and payment-card
 * numbers (only digit runs that pass the Luhn check, to spare ordinary numbers).
 *
 * Pattern matching catches the common formats, not every possible one; names and postal
 * addresses are not detected. Treat it as one layer next to k-anonymity and DP.
 *
 * @module
 */

/** Kinds of personal data detected. */
export type PiiKind = "email" | "phone" | "ssn" | "ip" | "card";

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
};

// Earlier detectors win overlaps (a card number is not also a phone number).
const DETECTORS: [PiiKind, RegExp, ((s: string) => boolean)?][] = [
  ["email", /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g],
  ["card", /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g, (s) => luhnValid(s.replace(/\D/g, ""))],
  ["ssn", /(?<![\d-])(?!000|666|9\d\d)\d{3}[- ](?!00)\d{2}[- ](?!0000)\d{4}(?![\d-])/g],
  [
    "ip",
    /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])/g,
  ],
  ["ip", /(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])/g, isIpv6],
  ["phone", /(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\w)/g],
  ["phone", /(?<![\w(+])(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w)/g],
];

/**
 * Finds personal data in `text`, sorted by position, without overlaps.
 *
 * @example
 * ```ts
 * import { findPii } from "./pii.ts";
 * console.assert(findPii("mail bob@example.com")[0]?.kind === "email");
 * ```
 */
export function findPii(text: string): PiiMatch[] {
  const found: PiiMatch[] = [];
  const taken: [number, number][] = [];
  for (const [kind, pattern, accept] of DETECTORS) {
    for (const m of text.matchAll(pattern)) {
      const start = m.index;
      const end = start + m[0].length;
      if (accept && !accept(m[0])) continue;
      if (taken.some(([s, e]) => start < e && s < end)) continue;
      taken.push([start, end]);
      found.push({ kind, start, end, text: m[0] });
    }
  }
  return found.sort((a, b) => a.start - b.start);
}

/**
 * Replaces personal data with placeholders such as `[EMAIL]`.
 *
 * @example
 * ```ts
 * import { redactPii } from "./pii.ts";
 * const { text } = redactPii("call 415-555-0132 or mail a@b.io");
 * console.assert(text === "call [PHONE] or mail [EMAIL]");
 * ```
 */
export function redactPii(text: string): RedactResult {
  const counts: Record<PiiKind, number> = { email: 0, phone: 0, ssn: 0, ip: 0, card: 0 };
  let out = "";
  let at = 0;
  for (const m of findPii(text)) {
    out += text.slice(at, m.start) + PII_PLACEHOLDER[m.kind];
    at = m.end;
    counts[m.kind]++;
  }
  return { text: out + text.slice(at), counts };
}

/**
 * The Luhn checksum used by payment cards.
 *
 * @example
 * ```ts
 * import { luhnValid } from "./pii.ts";
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

function isIpv6(candidate: string): boolean {
  if (!candidate.includes("::") && candidate.split(":").length !== 8) return false;
  try {
    new URL(`http://[${candidate}]/`);
    return true;
  } catch {
    return false;
  }
}
