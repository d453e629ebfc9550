/**
 * The redaction step: personal data in free text replaced by placeholders (lib/privacy/pii.ts),
 * in the whole of a text file or in the chosen columns of records, and in column names, with
 * counts per kind. Each piece of text is searched as it is and unmasked (_pii_unmask.ts).
 *
 * @module
 */
import { emptyPiiCounts, PII_PLACEHOLDER, type PiiKind } from "../privacy/pii.ts";
import type { Row } from "../privacy/k_anonymity.ts";
import type { Dataset } from "./read_records.ts";
import { findPiiUnmasked } from "./_pii_unmask.ts";

/** What redaction removed. */
export interface RedactionStats {
  /** Matches replaced, per kind. */
  counts: Record<PiiKind, number>;
  /** Fields (records) or lines (text) that had something replaced. */
  fieldsChanged: number;
}

/**
 * Text is redacted in pieces of about this many characters, cut at line ends, so the
 * detectors' cost stays linear in the size of a file or of a long field.
 */
const CHUNK_CHARS = 4096;

/**
 * Redacts `dataset`: all of a text file; for records, the string values of `columns`.
 * The input is not changed.
 *
 * @example
 * ```ts
 * import { redactDataset } from "./redact_records.ts";
 * const data = { format: "csv" as const, columns: ["note"], rows: [{ note: "mail a@b.io" }] };
 * const { dataset, stats } = redactDataset(data, ["note"]);
 * console.assert(dataset.format === "csv" && dataset.rows[0]!.note === "mail [EMAIL]");
 * console.assert(stats.counts.email === 1 && stats.fieldsChanged === 1);
 * ```
 */
export function redactDataset(
  dataset: Dataset,
  columns: readonly string[],
): { dataset: Dataset; stats: RedactionStats } {
  const stats: RedactionStats = { counts: emptyPiiCounts(), fieldsChanged: 0 };
  if (dataset.format === "text") {
    const { text, lines } = redactText(dataset.text, stats.counts);
    return { dataset: { ...dataset, text }, stats: { ...stats, fieldsChanged: lines } };
  }
  const rows = dataset.rows.map((row) => {
    const out: Row = { ...row };
    for (const c of columns) {
      const v = out[c];
      // A JSON number is read as its digits too: a card or phone number stays one unquoted.
      if (typeof v !== "string" && typeof v !== "number") continue;
      const { text, lines } = redactText(String(v), stats.counts);
      if (lines === 0) continue;
      out[c] = text;
      stats.fieldsChanged++;
    }
    return out;
  });
  return { dataset: { ...dataset, rows }, stats };
}

/**
 * Redacts personal data in the column names of records (CSV headers, JSONL keys), which
 * {@link redactDataset} leaves: a JSONL file keyed by e-mail address (`{"alice@example.com": 3}`)
 * went through whole (data owner audit). A name that redacts to one already taken is numbered
 * (`[EMAIL] 2`); JSONL keys are numbered within their record, so the same address keeps no
 * number across records that would link them. Run it last: the options name the original
 * columns. Each distinct name counts once in `counts`; `renamed` is how many names changed.
 *
 * @example
 * ```ts
 * import { redactColumnNames } from "./redact_records.ts";
 * const data = { format: "csv" as const, columns: ["a@b.io", "c@d.io"], rows: [{ "a@b.io": "1", "c@d.io": "2" }] };
 * const { dataset, counts, renamed } = redactColumnNames(data);
 * console.assert(dataset.format === "csv" && dataset.columns.join() === "[EMAIL],[EMAIL] 2");
 * console.assert(counts.email === 2 && renamed === 2);
 * ```
 */
export function redactColumnNames(
  dataset: Dataset,
): { dataset: Dataset; counts: Record<PiiKind, number>; renamed: number } {
  const counts = emptyPiiCounts();
  if (dataset.format === "text") return { dataset, counts, renamed: 0 };
  const redacted = new Map(dataset.columns.map((c) => [c, redactText(c, counts).text]));
  const renamed = dataset.columns.filter((c) => redacted.get(c) !== c).length;
  if (renamed === 0) return { dataset, counts, renamed };
  const header = uniqueNames(dataset.columns, redacted);
  const rows = dataset.rows.map((row) => {
    const keys = dataset.columns.filter((c) => c in row);
    const names = dataset.format === "csv" ? header : uniqueNames(keys, redacted);
    return Object.fromEntries(keys.map((c) => [names.get(c)!, row[c] ?? null]));
  });
  const columns = dataset.format === "csv"
    ? dataset.columns.map((c) => header.get(c)!)
    : [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return { dataset: { ...dataset, columns, rows }, counts, renamed };
}

/**
 * New names for `names`: the redacted one, numbered when taken (by a name left as it was first,
 * then by one renamed before it).
 */
function uniqueNames(names: string[], redacted: Map<string, string>): Map<string, string> {
  const taken = new Set(names.filter((c) => redacted.get(c) === c));
  const out = new Map<string, string>();
  for (const c of names) {
    const base = redacted.get(c)!;
    let name = base;
    if (base !== c) {
      for (let n = 2; taken.has(name); n++) name = `${base} ${n}`;
      taken.add(name);
    }
    out.set(c, name);
  }
  return out;
}

/**
 * Replaces what findPii finds, piece by piece; adds to `counts`; counts the lines touched. Each
 * piece is searched with the {@link OVERLAP_CHARS} after it and the {@link CONTEXT_CHARS} before
 * it, and an item that starts in the piece is replaced whole even where it runs past the cut:
 * searched alone, a long line's pieces let an e-mail or a phone number across a cut through, and
 * so did an item whose cue ("born", "tel") was left in the piece before (data owner audit).
 */
function redactText(text: string, counts: Record<PiiKind, number>) {
  let out = "";
  const touched = new Set<number>();
  let line = 0; // the line `at` is on
  for (let at = 0; at < text.length;) {
    const piece = redactPiece(text, at, counts);
    out += piece.text;
    for (const l of piece.lines) touched.add(line + l);
    line += newlines(text, at, piece.end);
    at = piece.end;
  }
  return { text: out, lines: touched.size };
}

/**
 * Redacts the piece of `text` that starts at `at`: its text, where it ended (past the cut when an
 * item ran over it) and the lines it touched, counted from the line `at` is on.
 */
function redactPiece(text: string, at: number, counts: Record<PiiKind, number>) {
  const from = Math.max(0, at - CONTEXT_CHARS);
  const cut = pieceEnd(text, at);
  const window = text.slice(from, cut + OVERLAP_CHARS);
  const lines = new Set<number>();
  let out = "";
  let emitted = at - from;
  let end = cut - from;
  for (const m of findPiiUnmasked(window)) {
    if (m.end <= emitted) continue; // in the context before, the previous piece's
    if (m.start >= cut - from) break; // the next piece's, found there whole
    // An item begun before `at` that the previous piece did not replace (its context differed):
    // what of it lies in this piece is still replaced, rather than let through.
    const start = Math.max(m.start, emitted);
    out += window.slice(emitted, start) + PII_PLACEHOLDER[m.kind];
    const first = newlines(window, at - from, start);
    const last = first + newlines(window, start, m.end);
    for (let l = first; l <= last; l++) lines.add(l);
    emitted = m.end;
    end = Math.max(end, m.end);
    counts[m.kind]++;
  }
  return { text: out + window.slice(emitted, end), end: from + end, lines };
}

/**
 * How much of the text before a piece is searched with it: enough for any cue a detector looks
 * back for (at most 40 characters) and for any item findPii finds to be seen whole.
 */
const CONTEXT_CHARS = 512;

/** How far past a piece's cut it is searched: longer than any item findPii finds. */
const OVERLAP_CHARS = 512;

/** How many line ends `text` has from `start` to `end`. */
function newlines(text: string, start: number, end: number): number {
  let n = 0;
  for (let i = text.indexOf("\n", start); i >= 0 && i < end; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/** Where the piece starting at `at` ends: about CHUNK_CHARS on, at a line end when there is one. */
function pieceEnd(text: string, at: number): number {
  let end = Math.min(text.length, at + CHUNK_CHARS);
  if (end < text.length) {
    const nl = text.lastIndexOf("\n", end);
    if (nl > at) end = nl + 1;
  }
  return end;
}
