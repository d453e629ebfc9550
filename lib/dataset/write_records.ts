/**
 * Writing a prepared dataset back in its own format: text as is, JSONL one object per line,
 * CSV with a header (null written as an empty field).
 *
 * @module
 */
import { formatCsv } from "./csv.ts";
import type { Dataset } from "./read_records.ts";

/**
 * The dataset as the bytes that get encrypted and shared.
 *
 * @example
 * ```ts
 * import { writeRecords } from "./write_records.ts";
 * const csv = { format: "csv" as const, columns: ["age", "zip"], rows: [{ age: "30-39", zip: null }] };
 * console.assert(new TextDecoder().decode(writeRecords(csv)) === "age,zip\n30-39,\n");
 * ```
 */
export function writeRecords(dataset: Dataset): Uint8Array<ArrayBuffer> {
  const encode = (s: string) => new TextEncoder().encode(s);
  if (dataset.format === "text") return encode(dataset.text);
  const { columns, rows } = dataset;
  if (dataset.format === "csv") {
    return encode(formatCsv(columns, rows.map((r) => columns.map((c) => String(r[c] ?? "")))));
  }
  return encode(
    rows.map((r) =>
      JSON.stringify(Object.fromEntries(columns.filter((c) => c in r).map((c) => [c, r[c]]))) +
      "\n"
    ).join(""),
  );
}
