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

Deno.test("attacker: a cue just before a long line's cut still redacts the item after it", () => {
  // Found in the data owner audit: each ~4,096-character piece was searched from its cut, so the
  // cue ("born", "call:") stayed in the piece before and the date or number after it went through.
  // Prepare
  const lines = {
    dob: "a ".repeat(2046) + "born 12/03/1985",
    phone: "a ".repeat(2045) + "call: 9876543210",
  } as const;
  for (const [kind, line] of Object.entries(lines) as [keyof typeof lines, string][]) {
    // Execute
    const { dataset: out, stats } = redactDataset(parseRecords(line, "text"), []);
    // Assert
    assert.ok(out.format === "text");
    assert.doesNotMatch(out.text, /1985|9876543210/, kind);
    assert.ok(out.text.endsWith(kind === "dob" ? "born [DOB]" : "call: [PHONE]"), kind);
    assert.equal(stats.counts[kind], 1, kind);
    assert.equal(stats.fieldsChanged, 1, kind);
  }
});

Deno.test("a long line with items in two pieces counts as one line changed, each item once", () => {
  // Prepare: e-mails in the first and in the second piece of one line
  const line = "x ".repeat(1_000) + "a@b.io " + "y ".repeat(2_500) + "c@d.io " + "z ".repeat(100);
  // Execute
  const { dataset: out, stats } = redactDataset(parseRecords(line, "text"), []);
  // Assert
  assert.ok(out.format === "text");
  assert.equal(out.text, line.replace("a@b.io", "[EMAIL]").replace("c@d.io", "[EMAIL]"));
  assert.equal(stats.counts.email, 2);
  assert.equal(stats.fieldsChanged, 1);
});
