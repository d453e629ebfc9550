import assert from "node:assert/strict";
import { redactColumnNames, redactDataset } from "../../../lib/dataset/redact_records.ts";
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

Deno.test("attacker: an e-mail masked by an invisible character or an encoded or spaced @ is redacted whole", () => {
  // Found in the data owner audit: pii.ts reads a zero-width space as a space and a soft hyphen as
  // a dash, which split the address, and "%40" or "jsmith @ example.com" were no address at all;
  // each went to grantees verbatim.
  // Prepare
  const masked = [
    "jsmith\u200b@example.com", // zero-width space
    "jsmith\u00ad@example.com", // soft hyphen
    "jsmith\u200c@example.com", // zero-width non-joiner
    "jsmith\u200d@example.com", // zero-width joiner
    "jsmith\u2060@example.com", // word joiner
    "jsmith\ufeff@example.com", // BOM, zero-width no-break space
    "j\u200bsmith@exam\u00adple.com",
    "jsmith%40example.com",
    "jsmith&#64;example.com",
    "jsmith @ example.com",
    "jsmith@ example.com",
  ];
  for (const address of masked) {
    // Execute
    const { dataset: out, stats } = redactDataset(parseRecords(`mail ${address} now`, "text"), []);
    // Assert: the invisible characters go with it
    assert.ok(out.format === "text");
    assert.equal(out.text, "mail [EMAIL] now", JSON.stringify(address));
    assert.equal(stats.counts.email, 1, JSON.stringify(address));
  }
});

Deno.test("an @ with spaces in prose or a handle is not taken for an e-mail", () => {
  for (const text of ["meet @ 5pm", "see you @ home. Bring cake", "thanks @jane.doe for that"]) {
    const { dataset: out, stats } = redactDataset(parseRecords(text, "text"), []);
    assert.ok(out.format === "text");
    assert.equal(out.text, text);
    assert.equal(stats.counts.email, 0, text);
  }
});

Deno.test("unmasking adds to what the text yields: digits split by invisible characters stay found", () => {
  // Removing a soft hyphen leaves nine bare digits, an SSN only after a cue; the text as it is,
  // read with the soft hyphens as dashes, still finds it.
  const text = "id 123\u00ad45\u00ad6789, card 4111\u200b1111\u200b1111\u200b1111";
  const { dataset: out, stats } = redactDataset(parseRecords(text, "text"), []);
  assert.ok(out.format === "text");
  assert.equal(out.text, "id [SSN], card [CARD]");
  assert.equal(stats.counts.ssn + stats.counts.card, 2);
});

Deno.test("attacker: a zero-padded IPv4 address is redacted", () => {
  // Found in the data owner audit: pii.ts's IPv4 octets have no leading zeros, so
  // 192.168.001.010 (as some logs and spreadsheets write it) went through.
  // Prepare
  const text = "from 192.168.001.010 and 010.000.000.001; not 192.168.001.300\n";
  // Execute
  const { dataset: out, stats } = redactDataset(parseRecords(text, "text"), []);
  // Assert
  assert.ok(out.format === "text");
  assert.equal(out.text, "from [IP] and [IP]; not 192.168.001.300\n");
  assert.equal(stats.counts.ip, 2);
});

Deno.test("attacker: personal data in a JSONL key or a CSV header is redacted", () => {
  // Found in the data owner audit: only values were searched, so a file keyed by e-mail address
  // shipped every address.
  // Prepare
  const jsonl = parseRecords(
    '{"alice.smith@example.com": "x", "note": "ok", "age": 34}\n' +
      '{"bob@example.org": 1, "[EMAIL]": "taken", "note": "hi"}\n',
    "jsonl",
  );
  const csv = parseRecords("a@b.io,c@d.io,note\n1,2,x\n", "csv");
  // Execute
  const keys = redactColumnNames(jsonl);
  const header = redactColumnNames(csv);
  // Assert: a name taken is numbered, within a JSONL record only
  assert.ok(keys.dataset.format === "jsonl");
  assert.deepEqual(keys.dataset.rows, [
    { "[EMAIL]": "x", note: "ok", age: 34 },
    { "[EMAIL] 2": 1, "[EMAIL]": "taken", note: "hi" },
  ]);
  assert.doesNotMatch(JSON.stringify(keys.dataset), /alice|bob|example/);
  assert.equal(keys.counts.email, 2);
  assert.equal(keys.renamed, 2);
  assert.ok(header.dataset.format === "csv");
  assert.deepEqual(header.dataset.columns, ["[EMAIL]", "[EMAIL] 2", "note"]);
  assert.deepEqual(header.dataset.rows, [{ "[EMAIL]": "1", "[EMAIL] 2": "2", note: "x" }]);
  assert.equal(header.counts.email, 2);
});
