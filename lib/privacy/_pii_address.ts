/**
 * Postal addresses (private to pii.ts). An address starts with a street line in one of the
 * common orders, then takes the comma-separated parts that follow it (unit, district, city,
 * state, postcode) while they look like address parts:
 * - number first, English street types: `42 Baker Street`, `221B Baker St.`, `3/14 Glebe Point
 *   Road`, `24, MG Road`, `350 Fifth Avenue`, and in lower case after a cue `at 42 baker street`;
 * - unit or plot first: `Flat 12B, 4th Cross Road`, `Plot No. 45, Sector 18`, `P.O. Box 1234`;
 * - German and Dutch compounds, number last: `Hauptstraße 12`, `Musterstr. 7a`,
 *   `Keizersgracht 123`;
 * - French number first (`10 rue de Rivoli`), Spanish/Italian/Portuguese type first
 *   (`Calle Mayor 15`, `Via Roma 25`);
 * - a postcode on its own after a cue ("postcode", "ZIP", "PIN code", "PLZ"), and a UK
 *   postcode anywhere (`SW1A 1AA`: its shape is distinctive).
 * A city or country alone is not personal data and is not matched.
 *
 * @module
 */
import { matchSpans, type Span } from "./_pii_span.ts";

const NUM = String.raw`\d{1,5}[A-Za-z]?(?:[\/-]\d{1,5}[A-Za-z]?)?`;
const CAP = String.raw`(?:[A-Z][\p{L}'’-]*|\d{1,3}(?:st|nd|rd|th))`;
const EN_TYPE = "(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|" +
  "Place|Pl|Square|Sq|Terrace|Way|Close|Crescent|Cres|Gardens|Grove|Highway|Hwy|Parkway|" +
  "Pkwy|Row|Mews|Walk|Circle|Trail|Marg|Path|Alley|Hill|Loop|Parade|Quay|Wharf|Esplanade|" +
  "Promenade|Embankment|Plaza|Point)";
const UNIT = String.raw`(?:Flat|Apt|Apartment|Unit|Suite|Ste|House|Plot|Door|Floor|Block)\.?`;
const UK_POSTCODE = String.raw`(?:[A-Z]{1,2}\d[A-Z\d]?|GIR) ?\d[ABD-HJLNP-UW-Z]{2}`;
const POSTCODE = String.raw`(?:${UK_POSTCODE}|\d{4} ?[A-Z]{2}|[A-Z]\d[A-Z] ?\d[A-Z]\d|` +
  String.raw`\d{3} \d{3}|\d{4,6}(?:-\d{4})?)`;
const STATE_POSTCODE = String.raw`[A-Z]{2,3} \d{4,5}(?:-\d{4})?`;
// "Bandra West", "Sector 18", "Frankfurt am Main"
const WORDS = String.raw`${CAP}(?:[ \t]+(?:(?:am|an|im|upon|on|sur|de|del|la)[ \t]+)?` +
  String.raw`(?:${CAP}|\d{1,4}(?![\p{L}\p{N}]))){0,3}`;
// "Ave NW", "Road Central"
const SUFFIX = String.raw`(?:[ \t]+(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West|Central)\b)?`;
const UNIT_PREFIX = String.raw`(?:${UNIT}\s*#?${NUM},?\s+)?`;
// A part after the street line: ", Apt 3", ", Bandra West", ", CA 94043", " NW1 6XE", ...
const PART = String.raw`(?:,\s*(?:${UNIT}\s*#?${NUM}|${STATE_POSTCODE}|(?:${POSTCODE}\s+)?` +
  String.raw`${WORDS})|[ \t]+(?:${POSTCODE}|${STATE_POSTCODE})(?![\p{L}\p{N}]))`;

const STREETS = [
  // 42 Baker Street, 24, MG Road, 350 Fifth Avenue, 3/14 Glebe Point Road
  String.raw`${NUM},?\s+(?:${CAP}\s+){1,4}${EN_TYPE}\b\.?${SUFFIX}`,
  String.raw`P\.?\s?O\.?\s+Box\s+\d{1,6}`,
  // Hauptstraße 12, Musterstr. 7a, Keizersgracht 123, Berliner Straße 5
  String.raw`[A-ZÄÖÜ][\p{L}-]*(?:straße|strasse|str\.|weg|gasse|allee|platz|ring|damm|ufer|` +
  String.raw`gracht|laan|straat|plein|kade|singel)\s+${NUM}`,
  String.raw`(?:[A-Z][\p{L}-]*\s+)?(?:Straße|Strasse|Weg|Allee|Platz)\s+${NUM}`,
  // 10 rue de Rivoli
  String.raw`${NUM},?\s+(?:[Rr]ue|[Aa]venue|[Bb]oulevard|bd|[Pp]lace|[Cc]hemin|[Aa]llée|` +
  String.raw`[Ii]mpasse|[Qq]uai)\s+` +
  String.raw`(?:(?:de|du|des|la|le|l'|d')\s*)*[A-Z][\p{L}'’-]*(?:\s+[A-Z][\p{L}'’-]*){0,2}`,
  // Calle Mayor 15, Via Roma 25
  String.raw`(?:Calle|Avenida|Avda\.|Paseo|Plaza|Carrer|Via|Viale|Piazza|Corso|Largo|Rua|` +
  String.raw`Travessa)\s+(?:(?:de|del|della|di|da|do|dos|das)\s+)*[A-Z][\p{L}'’-]*` +
  String.raw`(?:\s+[A-Z][\p{L}'’-]*){0,2},?\s+${NUM}`,
];
const EDGE_START = String.raw`(?<![\p{L}\p{N}])`;
const EDGE_END = String.raw`(?![\p{L}\p{N}])`;
const ADDRESS = new RegExp(
  String.raw`${EDGE_START}${UNIT_PREFIX}(?:${STREETS.join("|")})(?:${PART}){0,5}${EDGE_END}`,
  "gu",
);
// "Flat 12B", "Plot No. 45" only count when address parts follow ("Unit 4 covers fractions").
const UNIT_FIRST = new RegExp(
  String.raw`${EDGE_START}${UNIT}\s*(?:No\.?\s*)?#?${NUM}(?:${PART}){1,5}${EDGE_END}`,
  "gu",
);
// "she lives at 42 baker street, london": typed in lower case, a street is still a house number,
// one to three words and a street type. Lower-case words after a number are also how quantities
// read ("a 2 hour drive", "3 kids on the road", "4 wheel drive", "a 2 TB hard drive", "the 5 star
// avenue"), so here the number must follow a word that places something (LOWER_CUE: "at", "moved
// to", "address:"), the type is one of the unambiguous ones, it must close the phrase
// (punctuation, the end, or a word such as "in" after it), and no word before it may be a
// function word, a unit or a word that makes the phrase a product or a count (NOT_STREET_WORD).
const LOWER_TYPE = "(?:street|st|road|rd|avenue|ave|lane|ln|drive|boulevard|blvd|terrace|" +
  "crescent|highway|hwy|parkway|gardens|grove|mews)";
// Right before the number (or its unit): "lives at", "live on", "moved to", "in", "from",
// "address:", "addr. is". Not "in the", "page", "took": those read as counts.
const LOWER_CUE = String.raw`(?<=(?<![\p{L}\p{N}])(?i:at|on|in|to|from|address|addr\.?)` +
  String.raw`(?:[ \t]*:|[ \t]+is)?[ \t]+)`;
const LOWER_STREET = new RegExp(
  String
    .raw`${EDGE_START}${LOWER_CUE}${UNIT_PREFIX}${NUM},?[ \t]+((?:\p{L}[\p{L}'’-]*[ \t]+){1,3})` +
    // (?i:...) makes only the street type case-insensitive, not the parts after it.
    String.raw`(?i:${LOWER_TYPE})\.?${SUFFIX}(?:${PART}){0,5}` +
    String.raw`(?=[ \t]*(?:[,.;:!?)\n]|$|(?:in|near|and|but|where|which|opposite|next|behind)\b))`,
  "gu",
);
const NOT_STREET_WORD = new RegExp(
  "^(?:a|an|the|of|to|on|in|at|by|for|from|into|onto|up|down|along|across|around|over|past|off|" +
    "and|or|per|more|other|than|times|hours?|hrs?|minutes?|mins?|days?|weeks?|months?|years?|" +
    "miles?|mi|km|kilomet(?:er|re)s?|met(?:er|re)s?|yards?|feet|ft|blocks?|lanes?|doors?|" +
    "stor(?:e?y|ies|eys)|people|kids|cars?|ways?|" +
    // "4 wheel drive", "2 TB hard drive", "1 usb flash drive", "3 test drive", "5 star avenue",
    // "1 million st.", "version 2 beta drive": a product, a rating or a count, not a street.
    "wheels?|hard|flash|usb|disk|disc|drives?|test|free|stars?|million|billion|thousand|" +
    "hundred|beta|alpha|page|version|tb|gb|mb)$",
  "i",
);
const POSTCODE_CUE = new RegExp(
  String.raw`(?:post ?code|postal code|zip(?: ?code)?|pin(?: ?code)?|plz|code postal)` +
    String.raw`[\s:#-]*(?:is\s+)?(${POSTCODE})${EDGE_END}`,
  "giu",
);
const UK_ALONE = new RegExp(`${EDGE_START}${UK_POSTCODE}${EDGE_END}`, "gu");

/** Street addresses with their trailing parts, and postcodes in context. */
export function findAddresses(text: string): Span[] {
  const cued: Span[] = [];
  for (const m of text.matchAll(POSTCODE_CUE)) {
    cued.push([m.index + m[0].length - m[1]!.length, m.index + m[0].length]);
  }
  return [
    ...matchSpans(text, ADDRESS),
    ...matchSpans(
      text,
      LOWER_STREET,
      (m) => m[1]!.trim().split(/[ \t]+/).every((w) => !NOT_STREET_WORD.test(w)),
    ),
    ...matchSpans(text, UNIT_FIRST),
    ...cued,
    ...matchSpans(text, UK_ALONE),
  ];
}
