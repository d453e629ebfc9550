/**
 * Person names (private to pii.ts): the people compromise's English tagger finds (a lexicon
 * of first names and surnames plus the sentence around them, so "Will Turner called" is a
 * person and "Will the shipment arrive" is not), plus rules for what it misses:
 * capitalised words after a title (`Dr.`, `Ms`, `Sr.`, `Herr`, `Shri`) and after a cue that
 * introduces a person (`my name is`, `Name:`, `Regards,`, `Hi`, `patient`, `wife`), and the
 * other side of "A and B" when one side is a name.
 * Names of places, companies and book titles are not personal data and are not matched.
 *
 * @module
 */
import nlp from "compromise";
import { hasCueBefore, matchSpans, type Span } from "./_pii_span.ts";

const NAME_WORD = String.raw`[A-Z\p{Lu}][\p{L}'’-]*\p{L}`;
const NAME = String.raw`${NAME_WORD}(?:[ \t]+${NAME_WORD}){0,2}`;
const TITLE = String.raw`(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Sr|Sra|Srta|Herr|Frau|Mme|` +
  String.raw`Mlle|Shri|Smt|Sri)\.?[ \t]+`;
const TITLED = new RegExp(String.raw`(?<![\p{L}])${TITLE}(${NAME})`, "gu");
const LEADING_TITLE = new RegExp(`^${TITLE}`, "u");
const CAPITALISED = new RegExp(String.raw`(?<![\p{L}\p{N}])${NAME}`, "gu");
/** Words that introduce a person: the capitalised words right after them are a name. */
const PERSON_CUE = new RegExp(
  String.raw`\b(?:my name is|i'?m|i am|name\s*:|signed by|(?:kind |best )?regards,|thanks,|` +
    String.raw`sincerely,|cheers,|from\s*:|patient:?|customer|employee|tenant|dear|hi|hello|ask|` +
    String.raw`forward (?:this|it) to|(?:emergency )?contact(?: person)?:|wife|husband|partner|` +
    String.raw`son|daughter|mother|father|brother|sister|friend|colleague|neighbou?r)\s*$`,
  "i",
);
// Capitalised words compromise may call people that are not (months, verbs at a sentence start).
const NOT_NAMES = new Set(["May", "Will", "Mark", "Bill", "June", "April", "August", "Read"]);
// Words that make the capitalised word before them a place or an organisation, not a surname.
const PLACE_HEADS = new RegExp(
  "^(?:Hole|Bridge|University|College|School|Street|Road|Avenue|Park|Hall|Cent(?:er|re)|" +
    "Memorial|Institute|Hospital|Airport|Station|River|Lake|Mountains?|Valley|Bay|Beach|" +
    "Island|County|City|Inc|Ltd|Company|Group|Bank|Museum|Square|Tower|Stadium|Day)$",
);

/** Person names. */
export function findNames(text: string): Span[] {
  const out: Span[] = [];
  for (const m of text.matchAll(TITLED)) {
    const start = m.index + m[0].length - m[1]!.length;
    out.push([start, m.index + m[0].length]);
  }
  out.push(
    ...matchSpans(
      text,
      CAPITALISED,
      (m) => hasCueBefore(text, m.index, PERSON_CUE, { window: 30, crossLines: true }),
    ),
  );
  const people = (nlp(text).people().json({ offset: true }) as Person[])
    .map((p) => trimPunctuation(text, p.offset.start, p.offset.start + p.offset.length))
    .map((span) => withSurname(text, span))
    .filter((span) => span[1] > span[0] && isPerson(text, span));
  out.push(...people, ...coordinated(text, [...out, ...people]));
  return out;
}

/** A lone first name followed by a capitalised word the tagger did not know takes it along. */
function withSurname(text: string, [start, end]: Span): Span {
  if (/\s/.test(text.slice(start, end))) return [start, end];
  const next = new RegExp(String.raw`^[ \t]+(${NAME_WORD})`, "u").exec(text.slice(end));
  return next && !PLACE_HEADS.test(next[1]!) ? [start, end + next[0].length] : [start, end];
}

/**
 * Whether a name compromise found is a person: a lone word is not when it is a month or modal
 * ("May"), a saint or a verse ("St Mary's", "John 3:16"), follows an article ("the Sydney
 * desk") or heads a place or organisation ("Jackson Hole", "Lincoln Memorial").
 */
function isPerson(text: string, [start, end]: Span): boolean {
  const name = text.slice(start, end);
  if (/\s/.test(name)) return true;
  const before = text.slice(Math.max(0, start - 5), start);
  const after = text.slice(end, end + 30);
  return !NOT_NAMES.has(name) && !/(?:\bSt\.?|\b[Tt]he|\b[Aa]n?)\s+$/.test(before) &&
    !/^\s+\d+:\d+/.test(after) && !/^[ \t]+\p{Lu}/u.test(after);
}

/** "Siobhan Murphy and Ngozi Okafor": capitalised words joined by "and" to a found name. */
function coordinated(text: string, names: Span[]): Span[] {
  const out: Span[] = [];
  const pairs = new RegExp(String.raw`(${NAME})([ \t]+(?:and|&|or)[ \t]+)(${NAME})`, "gu");
  for (const m of text.matchAll(pairs)) {
    const left: Span = [m.index, m.index + m[1]!.length];
    const rightStart = left[1] + m[2]!.length;
    const right: Span = [rightStart, rightStart + m[3]!.length];
    const isName = (s: Span) => names.some(([a, b]) => a < s[1] && s[0] < b);
    if (isName(left) && !isName(right)) out.push(right);
    if (isName(right) && !isName(left)) out.push(left);
  }
  return out;
}

interface Person {
  offset: { start: number; length: number };
}

/** The name without surrounding punctuation or a leading title ("Mrs. Helen Carter,"). */
function trimPunctuation(text: string, start: number, end: number): Span {
  while (end > start && /[\s.,;:!?()"'”’]/.test(text[end - 1]!)) end--;
  while (start < end && /[\s("'“‘]/.test(text[start]!)) start++;
  const title = LEADING_TITLE.exec(text.slice(start, end));
  return [start + (title?.[0].length ?? 0), end];
}
