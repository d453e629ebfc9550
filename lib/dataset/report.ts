/**
 * The report of `deno task dataset prepare`: what was read, what redaction and k-anonymity
 * removed, what was stored and which transactions registered and granted it. Written as JSON
 * for the data owner's records and printed as a short summary.
 *
 * @module
 */
import type { PiiKind } from "../privacy/pii.ts";
import type { DatasetFormat } from "./read_records.ts";
import type { RedactionStats } from "./redact_records.ts";
import type { AnonymityStats } from "./anonymise.ts";
import type { Published } from "./publish.ts";

/** Everything the pipeline did to one dataset. */
export interface DatasetReport {
  input: { path: string; format: DatasetFormat; bytes: number; rows: number | null };
  /** `columnsRenamed`: column names (CSV headers, JSONL keys) that had personal data in them. */
  redaction: RedactionStats & {
    total: number;
    columns: string[] | null;
    columnsRenamed: number;
  };
  droppedColumns: string[];
  /** Null when no quasi-identifiers were given. */
  kAnonymity: AnonymityStats | null;
  output: { bytes: number; rows: number | null };
  /** Null on a dry run: nothing was stored or sent. */
  published: (Published & { ownerDid: string }) | null;
}

/**
 * The report as the JSON file written next to the dataset.
 *
 * @example
 * ```ts
 * import { reportJson } from "./report.ts";
 * const json = reportJson({ input: { path: "a.txt", format: "text", bytes: 5, rows: null } } as never);
 * console.assert(JSON.parse(json).input.bytes === 5);
 * ```
 */
export function reportJson(report: DatasetReport): string {
  return JSON.stringify(report, null, 2) + "\n";
}

/**
 * A few lines for the terminal.
 *
 * @example
 * ```ts
 * import { formatReport } from "./report.ts";
 * import { emptyPiiCounts } from "../privacy/pii.ts";
 * const text = formatReport({
 *   input: { path: "notes.txt", format: "text", bytes: 120, rows: null },
 *   redaction: {
 *     counts: { ...emptyPiiCounts(), email: 2 }, total: 2, fieldsChanged: 1, columns: null,
 *     columnsRenamed: 0,
 *   },
 *   droppedColumns: [], kAnonymity: null, output: { bytes: 110, rows: null }, published: null,
 * });
 * console.assert(text.includes("email 2") && text.includes("dry run"));
 * ```
 */
export function formatReport(r: DatasetReport): string {
  const kinds = (Object.entries(r.redaction.counts) as [PiiKind, number][])
    .filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ");
  const rows = (n: number | null) => n === null ? "" : `, ${n} rows`;
  const n = r.redaction.fieldsChanged;
  const renamed = r.redaction.columnsRenamed;
  const changed = `${n} ${r.input.format === "text" ? "line" : "field"}${n === 1 ? "" : "s"}` +
    (renamed ? ` and ${renamed} column name${renamed === 1 ? "" : "s"}` : "");
  const lines = [
    `read ${r.input.path} (${r.input.format}, ${r.input.bytes} bytes${rows(r.input.rows)})`,
    `redacted ${r.redaction.total} items in ${changed}: ${kinds || "none"}`,
  ];
  if (r.droppedColumns.length) lines.push(`dropped columns ${r.droppedColumns.join(", ")}`);
  const k = r.kAnonymity;
  if (k) {
    const levels = Object.entries(k.quasiIdentifiers)
      .map(([c, q]) => `${c} ${q.kind} ${q.level}/${q.levels}`).join(", ");
    lines.push(
      `k-anonymity k=${k.k} reached ${k.kReached}: ${k.rowsSuppressed} rows suppressed, ` +
        `${k.rowsGeneralised} generalised (${levels})`,
    );
  }
  lines.push(`output ${r.output.bytes} bytes${rows(r.output.rows)}`);
  const p = r.published;
  if (!p) return [...lines, "dry run: nothing stored or sent"].join("\n");
  return [
    ...lines,
    `stored artha://${p.cid} (${p.encryptedBytes} bytes encrypted)`,
    `registered dataset ${p.datasetId} for ${p.ownerDid} in tx ${p.registerTx}`,
    ...p.grants.map((g) => `granted ${g.did} in tx ${g.tx}`),
    ...p.failed.map((f) => `NOT granted ${f.did}: ${f.reason}`),
  ].join("\n");
}
