/**
 * Reading a data owner's dataset: a text file (free text, redacted as a whole), a JSONL file
 * of flat records, or a CSV file with a header. The format follows the file's extension
 * unless given; every way a file can be unusable is a {@link DatasetInputError} that names
 * the line.
 *
 * @module
 */
import type { Row } from "../privacy/k_anonymity.ts";
import { parseCsv } from "./csv.ts";
import { DatasetInputError } from "./dataset_error.ts";

/** The formats a dataset can have. */
export type DatasetFormat = "text" | "jsonl" | "csv";

/** A dataset in memory: free text, or records with named columns. */
export type Dataset =
  | { format: "text"; text: string }
  | { format: "jsonl" | "csv"; columns: string[]; rows: Row[] };

const EXTENSIONS: Record<string, DatasetFormat> = {
  txt: "text",
  text: "text",
  md: "text",
  jsonl: "jsonl",
  ndjson: "jsonl",
  csv: "csv",
};

/**
 * The format of `path` by its extension.
 *
 * @throws {DatasetInputError} for an extension it does not know
 * @example
 * ```ts
 * import { formatOfPath } from "./read_records.ts";
 * console.assert(formatOfPath("data/people.csv") === "csv");
 * ```
 */
export function formatOfPath(path: string): DatasetFormat {
  const ext = /\.([A-Za-z]+)$/.exec(path)?.[1]?.toLowerCase() ?? "";
  const format = EXTENSIONS[ext];
  if (!format) {
    throw new DatasetInputError(
      `Cannot tell the format of ${path}: use .txt, .jsonl or .csv, or pass --format`,
    );
  }
  return format;
}

/**
 * Parses a dataset's text. CSV fields stay strings (an empty field is `null`); JSONL values
 * must be strings, numbers, booleans (kept as "true"/"false") or null.
 *
 * @throws {DatasetInputError} for malformed input
 * @example
 * ```ts
 * import { parseRecords } from "./read_records.ts";
 * const data = parseRecords('{"age": 34, "note": "hi"}\n{"age": 51}\n', "jsonl");
 * console.assert(data.format === "jsonl" && data.columns.join() === "age,note");
 * ```
 */
export function parseRecords(text: string, format: DatasetFormat): Dataset {
  // Found in the data owner audit: an empty text or a CSV of a header alone was encrypted,
  // registered and granted (an empty JSONL file was refused).
  if (format === "text") {
    if (!text.trim()) throw new DatasetInputError("Cannot read text: the file holds no text");
    return { format, text };
  }
  if (format === "csv") {
    const { columns, rows } = parseCsv(text);
    if (rows.length === 0) throw new DatasetInputError("Cannot read CSV: no records");
    const records = rows.map((fields) =>
      Object.fromEntries(columns.map((c, i) => [c, fields[i] === "" ? null : fields[i]!]))
    );
    return { format, columns, rows: records };
  }
  const rows = text.split("\n").flatMap((line, i) => line.trim() ? [parseLine(line, i + 1)] : []);
  if (rows.length === 0) throw new DatasetInputError("Cannot read JSONL: no records");
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return { format, columns, rows };
}

/**
 * Reads and parses the dataset at `path` (format from the extension unless given).
 *
 * @throws {DatasetInputError} when the file is missing, unreadable or malformed
 * @example
 * ```ts
 * import { readRecords } from "./read_records.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.csv`, "age,zip\n34,94110\n");
 * const { dataset } = await readRecords(`${dir}/a.csv`);
 * console.assert(dataset.format === "csv" && dataset.rows[0]!.zip === "94110");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readRecords(
  path: string,
  options: { format?: DatasetFormat } = {},
): Promise<{ dataset: Dataset; bytes: number }> {
  const format = options.format ?? formatOfPath(path);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (cause) {
    const why = cause instanceof Deno.errors.NotFound ? "no such file" : (cause as Error).message;
    throw new DatasetInputError(`Cannot read ${path}: ${why}`, { cause });
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new DatasetInputError(`Cannot read ${path}: not UTF-8 text`, { cause });
  }
  try {
    return { dataset: parseRecords(text, format), bytes: bytes.length };
  } catch (e) {
    if (!(e instanceof DatasetInputError)) throw e;
    throw new DatasetInputError(
      e.message.replace(/^Cannot read (CSV|JSONL)/, `Cannot read ${path}`),
    );
  }
}

function parseLine(line: string, n: number): Row {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new DatasetInputError(`Cannot read JSONL: line ${n} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new DatasetInputError(`Cannot read JSONL: line ${n} is not an object`);
  }
  const row: Row = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === "boolean") row[key] = String(v);
    else if (v === null || typeof v === "string" || typeof v === "number") row[key] = v;
    else {
      throw new DatasetInputError(
        `Cannot read JSONL: line ${n} field "${key}" is nested; flatten records first`,
      );
    }
  }
  return row;
}
