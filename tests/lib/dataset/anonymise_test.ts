import assert from "node:assert/strict";
import { anonymiseRecords } from "../../../lib/dataset/anonymise.ts";

Deno.test("k-anonymity over 200,000 rows of a numeric quasi-identifier", () => {
  // Found in the data owner audit: Math.max(...values) overflowed the stack past ~125k rows.
  const rows = Array.from({ length: 200_000 }, (_, i) => ({ age: String(18 + (i % 60)) }));
  const { rows: out } = anonymiseRecords(rows, {
    k: 5,
    quasi: [{ column: "age" }],
    maxSuppression: 0.05,
  });
  assert.equal(out.length, 200_000);
});
