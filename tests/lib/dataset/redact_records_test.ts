import assert from "node:assert/strict";
import { redactDataset } from "../../../lib/dataset/redact_records.ts";
import { parseRecords } from "../../../lib/dataset/read_records.ts";

Deno.test("attacker: PII in a JSONL number is redacted like the same digits in text", () => {
  // Found in a privacy audit: JSON numbers were skipped, so an unquoted card number went through
  // while the quoted one became [CARD].
  const dataset = parseRecords(
    '{"card": 4111111111111111, "note": "card 4111111111111111", "age": 41}\n',
    "jsonl",
  );
  const { dataset: out, stats } = redactDataset(dataset, ["card", "note", "age"]);
  assert.ok(out.format === "jsonl");
  assert.deepEqual(out.rows, [{ card: "[CARD]", note: "card [CARD]", age: 41 }]);
  assert.equal(stats.counts.card, 2);
  assert.equal(stats.fieldsChanged, 2);
});
