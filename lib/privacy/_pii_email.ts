/**
 * E-mail addresses (private to pii.ts): RFC 5322 dot-atoms as people write them, including
 * apostrophes (`o'connor@`) and internationalised addresses (`josé@bücher.de`,
 * `почта@пример.рф`),
 * and the obfuscated forms people use to dodge scrapers: `bob [at] example [dot] com`,
 * `tom{at}example{dot}net`, `carlos@example[.]com`, `priya dot nair at gmail dot com`.
 *
 * @module
 */
import { matchSpans, type Span } from "./_pii_span.ts";

const LABEL = String.raw`[\p{L}\p{N}](?:[\p{L}\p{N}_%+-]*[\p{L}\p{N}])?`;
const LOCAL = String.raw`[\p{L}\p{N}](?:[\p{L}\p{N}._%+'’!#$&*\/=?^\x60{|}~-]*[\p{L}\p{N}_])?`;

const PLAIN = new RegExp(
  String.raw`(?<![\p{L}\p{N}._%+'’-])${LOCAL}@(?:${LABEL}\.)+\p{L}{2,}` +
    String.raw`(?![\p{L}\p{N}-]|\.[\p{L}\p{N}])`,
  "gu",
);

// "[at]", "(at)", "{at}", "<at>", "[@]" and "[dot]", "(.)" ...; "at"/"dot" in words need a
// known top-level domain at the end (below), so "look at the example" stays.
const BRACKET_AT = String.raw`\s*[\[({<]\s*(?:at|@)\s*[\])}>]\s*`;
const BRACKET_DOT = String.raw`\s*[\[({<]\s*(?:dot|\.)\s*[\])}>]\s*`;
const WORD_AT = String.raw`\s+at\s+`;
const WORD_DOT = String.raw`\s+dot\s+`;
const TLD = "com|org|net|edu|gov|mil|int|info|biz|io|ai|me|co|uk|us|ca|au|nz|in|de|fr|es|it|nl|" +
  "be|ch|at|se|no|dk|fi|pl|pt|ie|cz|ru|jp|cn|kr|br|mx|ar|za|sg|hk|eu";
const ANY_DOT = `(?:${BRACKET_DOT}|${WORD_DOT}|\\.)`;

const BRACKETED = new RegExp(
  String.raw`(?<![\p{L}\p{N}])${LABEL}(?:${ANY_DOT}${LABEL})*(?:${BRACKET_AT}|@)${LABEL}` +
    String.raw`(?:${ANY_DOT}${LABEL})*${ANY_DOT}\p{L}{2,}(?![\p{L}\p{N}])`,
  "giu",
);
const SPOKEN = new RegExp(
  String.raw`(?<![\p{L}\p{N}])${LABEL}(?:${WORD_DOT}${LABEL})*${WORD_AT}${LABEL}` +
    String.raw`(?:${WORD_DOT}${LABEL})*${WORD_DOT}(?:${TLD})(?![\p{L}\p{N}])`,
  "giu",
);

/** E-mail addresses, plain or obfuscated. */
export function findEmails(text: string): Span[] {
  return [
    ...matchSpans(text, PLAIN),
    // An obfuscated form must actually hide something, else it is the plain address.
    ...matchSpans(text, BRACKETED, (m) => /[\s\[({<]/.test(m[0])),
    ...matchSpans(text, SPOKEN),
  ];
}
