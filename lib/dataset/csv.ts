/**
 * CSV as RFC 4180 writes it: a header row, fields separated by commas, fields with commas,
 * quotes or line breaks in double quotes (a quote inside doubled), CRLF or LF line ends.
 * Parsing is strict: a quote that never closes, text after a closing quote or a row whose
 * field count differs from the header's is an error naming the line, not a guess.
 *
 * @module
 */
import { DatasetInputError } from "./dataset_error.ts";

/** A parsed CSV: the header's column names and each row's fields. */
export interface Csv {
  columns: string[];
  rows: string[][];
}

/**
 * Parses CSV text with a header row.
 *
 * @throws {DatasetInputError} for malformed CSV (the message names the line)
 * @example
 * ```ts
 * import { parseCsv } from "./csv.ts";
 * const { columns, rows } = parseCsv('name,note\nAnn,"says ""hi"", twice"\n');
 * console.assert(columns[1] === "note" && rows[0]![1] === 'says "hi", twice');
 * ```
 */
export function parseCsv(text: string): Csv {
  const records = splitRecords(text.replace(/^\uFEFF/, ""));
  const [columns, ...rows] = records.map((r) => r.fields);
  if (!columns || columns.every((c) => c === "")) {
    throw new DatasetInputError("Cannot read CSV: no header row");
  }
  const duplicate = columns.find((c, i) => columns.indexOf(c) !== i);
  if (duplicate !== undefined) {
    throw new DatasetInputError(`Cannot read CSV: column "${duplicate}" appears twice`);
  }
  rows.forEach((fields, i) => {
    if (fields.length !== columns.length) {
      throw new DatasetInputError(
        `Cannot read CSV: line ${
          records[i + 1]!.line
        } has ${fields.length} fields, the header ${columns.length}`,
      );
    }
  });
  return { columns, rows };
}

/**
 * Writes a header and rows as CSV (LF line ends; fields quoted only when they need it).
 *
 * @example
 * ```ts
 * import { formatCsv } from "./csv.ts";
 * console.assert(formatCsv(["a", "b"], [["1", "x,y"]]) === 'a,b\n1,"x,y"\n');
 * ```
 */
export function formatCsv(columns: string[], rows: string[][]): string {
  const field = (s: string) => /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  return [columns, ...rows].map((r) => r.map(field).join(",") + "\n").join("");
}

/** Splits text into records of fields; blank lines between records are skipped. */
function splitRecords(text: string): { line: number; fields: string[] }[] {
  const records: { line: number; fields: string[] }[] = [];
  let line = 1;
  let at = 0;
  while (at < text.length) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      const [value, next, lines] = readField(text, at, line);
      fields.push(value);
      line = lines;
      at = next;
      if (text[at] !== ",") break;
      at++;
    }
    if (text[at] === "\r") at++;
    if (at < text.length && text[at] !== "\n") {
      throw new DatasetInputError(`Cannot read CSV: line ${line}: unexpected "${text[at]}"`);
    }
    at++;
    line++;
    if (!(fields.length === 1 && fields[0] === "")) records.push({ line: start, fields });
  }
  return records;
}

/** One field at `at`: its value, the offset after it, and the line number there. */
function readField(text: string, at: number, line: number): [string, number, number] {
  if (text[at] !== '"') {
    let end = at;
    while (end < text.length && !",\r\n".includes(text[end]!)) end++;
    const value = text.slice(at, end);
    if (value.includes('"')) {
      throw new DatasetInputError(
        `Cannot read CSV: line ${line}: a quote inside an unquoted field`,
      );
    }
    return [value, end, line];
  }
  let value = "";
  let i = at + 1;
  for (;;) {
    const close = text.indexOf('"', i);
    if (close < 0) {
      throw new DatasetInputError(`Cannot read CSV: line ${line}: a quoted field never closes`);
    }
    const part = text.slice(i, close);
    value += part;
    line += part.split("\n").length - 1;
    if (text[close + 1] !== '"') return [value, close + 1, line];
    value += '"';
    i = close + 2;
  }
}
