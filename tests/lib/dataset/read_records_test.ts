import assert from "node:assert/strict";
import { parseRecords } from "../../../lib/dataset/read_records.ts";

Deno.test("bad input: an empty text or a CSV of a header alone is refused, not published", () => {
  // Found in the data owner audit: both were encrypted, registered and granted.
  assert.throws(() => parseRecords(" \n\n", "text"), /the file holds no text/);
  assert.throws(() => parseRecords("age,zip\n", "csv"), /Cannot read CSV: no records/);
});
