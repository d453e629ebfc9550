/**
 * `deno task dataset prepare`, the data owner's path: read a dataset, check the options and
 * the DIDs, drop identifying columns, redact personal data in free text, k-anonymise the
 * quasi-identifiers, write it back in its format, then encrypt, upload, register and grant.
 * Each step is a short function; every check runs before the first upload, so bad input
 * stores and sends nothing.
 *
 * @module
 */
import type { Hex } from "../crypto/digest.ts";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { formatDid } from "../did/did.ts";
import { isKAnonymous } from "../privacy/k_anonymity.ts";
import { type Dataset, type DatasetFormat, readRecords } from "./read_records.ts";
import { redactColumnNames, redactDataset, type RedactionStats } from "./redact_records.ts";
import type { PiiKind } from "../privacy/pii.ts";
import { anonymiseRecords, type AnonymityStats, type QuasiKind } from "./anonymise.ts";
import { writeRecords } from "./write_records.ts";
import { checkParties } from "./check_parties.ts";
import { publishDataset } from "./publish.ts";
import type { StoreGrantKey, Upload } from "./upload.ts";
import type { DatasetReport } from "./report.ts";
import { DatasetInputError } from "./dataset_error.ts";

/** What to do to the records (all optional: a text file is only redacted). */
export interface PrepareOptions {
  /** Format of the input (default: from its extension). */
  format?: DatasetFormat;
  /**
   * Quasi-identifier columns to redact as well, before they are generalised. Every column not
   * dropped or quasi-identifying is redacted whatever this says: it used to name the only
   * columns redacted, and `--text-column note` shipped an e-mail in any other column in the
   * clear (data owner audit).
   */
  textColumns?: string[];
  /** Columns removed outright (names, e-mails, ids). */
  drop?: string[];
  /** k of k-anonymity; needs `quasi`. */
  k?: number;
  /** Quasi-identifier columns; needs `k`. */
  quasi?: { column: string; kind?: QuasiKind }[];
  /** Largest share of rows k-anonymity may suppress (default 0.05). */
  maxSuppression?: number;
}

/** What {@link prepareRecords} made: the dataset, its bytes and what each step removed. */
export interface PreparedRecords {
  dataset: Dataset;
  /** The bytes that get encrypted. */
  plaintext: Uint8Array<ArrayBuffer>;
  /** `columns`: the columns whose values were redacted (their input names; null for text). */
  redaction: RedactionStats & { columns: string[] | null; columnsRenamed: number };
  kAnonymity: AnonymityStats | null;
}

/** Where and to whom to publish; without it, a dry run. */
export interface PublishTarget {
  client: ArthaClient;
  addresses: Pick<ArthaAddresses, "dids">;
  upload: Upload;
  /** Where grants' wrapped keys go when not through `upload` (a coordinator's /did/grant). */
  storeGrantKey?: StoreGrantKey;
  ownerDid: Hex;
  grantees: Hex[];
  /** Unix seconds the grants end; omitted = no expiry. */
  expiresAt?: bigint;
}

/**
 * Checks that the options fit the dataset.
 *
 * @throws {DatasetInputError} for an unknown column, a k without quasi-identifiers (or the
 * other way round), a k larger than the rows, or columns asked of a text file
 * @example
 * ```ts
 * import { checkOptions } from "./prepare.ts";
 * const data = { format: "csv" as const, columns: ["age"], rows: [{ age: "34" }] };
 * try {
 *   checkOptions(data, { k: 2, quasi: [{ column: "age" }] });
 * } catch (e) {
 *   console.assert((e as Error).message.includes("k=2"));
 * }
 * ```
 */
export function checkOptions(dataset: Dataset, options: PrepareOptions): void {
  const quasi = (options.quasi ?? []).map((q) => q.column);
  const named = [...(options.textColumns ?? []), ...(options.drop ?? []), ...quasi];
  if (dataset.format === "text") {
    if (named.length || options.k !== undefined) {
      throw new DatasetInputError("Cannot use columns or k on a text file: give a CSV or JSONL");
    }
    return;
  }
  const unknown = named.find((c) => !dataset.columns.includes(c));
  if (unknown !== undefined) {
    throw new DatasetInputError(
      `Cannot find column "${unknown}": the dataset has ${dataset.columns.join(", ")}`,
    );
  }
  if ((options.k === undefined) !== (quasi.length === 0)) {
    throw new DatasetInputError("Cannot k-anonymise: give both --k and --quasi");
  }
  if (options.k !== undefined && options.k > dataset.rows.length) {
    throw new DatasetInputError(
      `Cannot k-anonymise with k=${options.k}: the dataset has only ${dataset.rows.length} rows`,
    );
  }
}

/**
 * The record steps without the chain: drop, redact, k-anonymise, redact the column names,
 * serialise.
 *
 * @example
 * ```ts
 * import { prepareRecords } from "./prepare.ts";
 * const data = {
 *   format: "csv" as const,
 *   columns: ["name", "age", "note"],
 *   rows: [
 *     { name: "Ann", age: "31", note: "call 415-555-0132" },
 *     { name: "Bob", age: "38", note: "fine" },
 *   ],
 * };
 * const out = prepareRecords(data, { drop: ["name"], k: 2, quasi: [{ column: "age" }] });
 * const text = new TextDecoder().decode(out.plaintext);
 * console.assert(!text.includes("Ann") && text.includes("[PHONE]"), text);
 * console.assert(out.kAnonymity?.kReached === 2);
 * ```
 */
export function prepareRecords(dataset: Dataset, options: PrepareOptions = {}): PreparedRecords {
  checkOptions(dataset, options);
  const kept = dropColumns(dataset, options.drop ?? []);
  const columns = redactedColumns(kept, options);
  const redacted = redactDataset(kept, columns);
  const { dataset: anonymised, stats } = anonymiseStep(redacted.dataset, options);
  // Last: the options name the input's columns, and k-anonymity finds its columns by them.
  const named = redactColumnNames(anonymised);
  const counts = redacted.stats.counts;
  for (const kind of Object.keys(counts) as PiiKind[]) counts[kind] += named.counts[kind];
  return {
    dataset: named.dataset,
    plaintext: writeRecords(named.dataset),
    redaction: {
      ...redacted.stats,
      columns: kept.format === "text" ? null : columns,
      columnsRenamed: named.renamed,
    },
    kAnonymity: stats,
  };
}

/**
 * Every column left but the quasi-identifiers (generalised, not redacted), and those of them
 * named by `textColumns`, in the dataset's order.
 */
function redactedColumns(dataset: Dataset, options: PrepareOptions): string[] {
  if (dataset.format === "text") return [];
  const quasi = (options.quasi ?? []).map((q) => q.column);
  const also = options.textColumns ?? [];
  return dataset.columns.filter((c) => !quasi.includes(c) || also.includes(c));
}

/**
 * The whole pipeline on the file at `path`; publishes when `target` is given. Returns the
 * report and the prepared plaintext (what was encrypted).
 *
 * @throws {DatasetInputError} for bad input, before anything is stored or sent
 * @example
 * ```ts ignore
 * const { report } = await prepareDataset("people.csv", { k: 5, quasi: [{ column: "age" }] }, {
 *   client, addresses, upload: uploadToStore(store), ownerDid, grantees: [bobDid],
 * });
 * ```
 */
export async function prepareDataset(
  path: string,
  options: PrepareOptions,
  target?: PublishTarget,
): Promise<{ report: DatasetReport; plaintext: Uint8Array }> {
  const { dataset, bytes } = await readRecords(path, { format: options.format });
  checkOptions(dataset, options);
  if (target) await checkParties(target.client, target);
  const prepared = prepareRecords(dataset, options);
  const published = target
    ? await publishDataset(target.client, { ...target, plaintext: prepared.plaintext })
    : null;
  const rowsOf = (d: Dataset) => d.format === "text" ? null : d.rows.length;
  const total = Object.values(prepared.redaction.counts).reduce((a, b) => a + b, 0);
  const report: DatasetReport = {
    input: { path, format: dataset.format, bytes, rows: rowsOf(dataset) },
    redaction: { ...prepared.redaction, total },
    droppedColumns: options.drop ?? [],
    kAnonymity: prepared.kAnonymity,
    output: { bytes: prepared.plaintext.length, rows: rowsOf(prepared.dataset) },
    published: published && target ? { ...published, ownerDid: formatDid(target.ownerDid) } : null,
  };
  return { report, plaintext: prepared.plaintext };
}

function dropColumns(dataset: Dataset, drop: string[]): Dataset {
  if (dataset.format === "text" || drop.length === 0) return dataset;
  const columns = dataset.columns.filter((c) => !drop.includes(c));
  const rows = dataset.rows.map((r) => Object.fromEntries(columns.map((c) => [c, r[c] ?? null])));
  return { ...dataset, columns, rows };
}

function anonymiseStep(
  dataset: Dataset,
  options: PrepareOptions,
): { dataset: Dataset; stats: AnonymityStats | null } {
  if (dataset.format === "text" || options.k === undefined || !options.quasi?.length) {
    return { dataset, stats: null };
  }
  const { rows, stats } = anonymiseRecords(dataset.rows, {
    k: options.k,
    quasi: options.quasi,
    maxSuppression: options.maxSuppression,
  });
  // A guard, not a search: the released rows must be k-anonymous, whatever the heuristic did.
  if (!isKAnonymous(rows, options.quasi.map((q) => q.column), options.k)) {
    throw new Error(`Cannot k-anonymise: the result is not ${options.k}-anonymous`);
  }
  return { dataset: { ...dataset, rows }, stats };
}
