/**
 * The redaction step: personal data in free text replaced by placeholders (lib/privacy/pii.ts),
 * in the whole of a text file or in the chosen columns of records, with counts per kind.
 *
 * @module
 */
import { emptyPiiCounts, findPii, PII_PLACEHOLDER, type PiiKind } from "../privacy/pii.ts";
import type { Row } from "../privacy/k_anonymity.ts";
import type { Dataset } from "./read_records.ts";

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
 * Replaces what findPii finds, piece by piece; adds to `counts`; counts the lines touched. Each
 * piece is searched with the {@link OVERLAP_CHARS} after it, and an item that starts in the piece
 * is replaced whole even where it runs past the cut: searched alone, a long line's pieces let an
 * e-mail or a phone number across a cut through (found in the data owner audit).
 */
function redactText(text: string, counts: Record<PiiKind, number>) {
  let out = "";
  let lines = 0;
  for (let at = 0; at < text.length;) {
    const cut = pieceEnd(text, at) - at;
    const window = text.slice(at, at + cut + OVERLAP_CHARS);
    const touched = new Set<number>();
    let emitted = 0;
    let next = cut;
    for (const m of findPii(window)) {
      if (m.start >= cut) break; // the next piece's, found there whole
      if (m.start < emitted) continue;
      out += window.slice(emitted, m.start) + PII_PLACEHOLDER[m.kind];
      emitted = m.end;
      next = Math.max(next, m.end);
      counts[m.kind]++;
      const first = lineOf(window, m.start);
      const last = first + (m.text.match(/\n/g)?.length ?? 0);
      for (let line = first; line <= last; line++) touched.add(line);
    }
    out += window.slice(emitted, next);
    lines += touched.size;
    at += next;
  }
  return { text: out, lines };
}

/** How far past a piece's cut it is searched: longer than any item findPii finds. */
const OVERLAP_CHARS = 512;

/** The 0-based line of offset `at` in `text`. */
function lineOf(text: string, at: number): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < at; i = text.indexOf("\n", i + 1)) n++;
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
