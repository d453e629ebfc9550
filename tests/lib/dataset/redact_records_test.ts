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

Deno.test("attacker: an e-mail across a long line's cut is still redacted", () => {
  // Found in the data owner audit: text was searched in pieces of ~4,096 characters, cut
  // anywhere in a line longer than that, and an item across the cut reached grantees in the clear.
  for (const start of [4_080, 4_090, 4_095, 8_180]) {
    const line = "x ".repeat(start / 2) + "alice.smith@example.com " + "y ".repeat(1_000);
    const { dataset: out, stats } = redactDataset(parseRecords(line, "text"), []);
    assert.ok(out.format === "text");
    assert.doesNotMatch(out.text, /alice|example\.com|smith/, `at ${start}`);
    assert.equal(stats.counts.email, 1, `at ${start}`);
    assert.equal(
      out.text.length,
      line.length - "alice.smith@example.com".length + 7,
      `at ${start}`,
    );
  }
});
