/**
 * The error of a dataset the pipeline cannot take as given: a missing or malformed file, an
 * unknown column, a k larger than the rows, a grantee DID that is not registered. The CLI
 * prints its message on one line and exits with status 2; nothing has been uploaded or sent
 * on chain when it is thrown.
 *
 * @module
 */

/** Bad input to `deno task dataset`; `code` is stable, the message says what to fix. */
export class DatasetInputError extends Error {
  /** Stable error code. */
  readonly code = "DATASET_INPUT";

  /**
   * @example
   * ```ts
   * import { DatasetInputError } from "./dataset_error.ts";
   * const e = new DatasetInputError("Cannot read data.csv: line 3 has 4 fields, the header 3");
   * console.assert(e.code === "DATASET_INPUT" && e.name === "DatasetInputError");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DatasetInputError";
  }
}
