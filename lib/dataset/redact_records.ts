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

/** Replaces what findPii finds, chunk by chunk; adds to `counts`; counts the lines touched. */
function redactText(text: string, counts: Record<PiiKind, number>) {
  let out = "";
  let lines = 0;
  for (const chunk of chunks(text)) {
    const touched = new Set<number>();
    let at = 0;
    for (const m of findPii(chunk)) {
      out += chunk.slice(at, m.start) + PII_PLACEHOLDER[m.kind];
      at = m.end;
      counts[m.kind]++;
      const first = lineOf(chunk, m.start);
      const last = first + (m.text.match(/\n/g)?.length ?? 0);
      for (let line = first; line <= last; line++) touched.add(line);
    }
    out += chunk.slice(at);
    lines += touched.size;
  }
  return { text: out, lines };
}

/** The 0-based line of offset `at` in `text`. */
function lineOf(text: string, at: number): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < at; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/**
 * Cuts text at line ends into pieces of about CHUNK_CHARS; a longer line is cut anyway (an item
 * of personal data across that cut can be missed: one more reason to keep records short).
 */
function chunks(text: string): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < text.length) {
    let end = Math.min(text.length, at + CHUNK_CHARS);
    if (end < text.length) {
      const nl = text.lastIndexOf("\n", end);
      if (nl > at) end = nl + 1;
    }
    out.push(text.slice(at, end));
    at = end;
  }
  return out;
}
