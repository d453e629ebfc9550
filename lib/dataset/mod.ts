/**
 * A data owner's dataset preparation: read, redact, anonymise, encrypt, upload and publish; and
 * the DIDs that own and are granted datasets.
 *
 * @module
 */
export * from "./anonymise.ts";
export * from "./check_parties.ts";
export * from "./create_did.ts";
export * from "./csv.ts";
export * from "./dataset_error.ts";
export * from "./prepare.ts";
export * from "./publish.ts";
export * from "./read_records.ts";
export * from "./redact_records.ts";
export * from "./report.ts";
export * from "./upload.ts";
export * from "./write_records.ts";
