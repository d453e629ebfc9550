import assert from "node:assert/strict";
import { findPii, luhnValid, redactPii } from "../../../lib/privacy/pii.ts";

Deno.test("redactPii removes e-mails, phones, SSNs, IPs and Luhn-valid card numbers", () => {
  // Prepare
  const text = [
    "Reach jane.doe+ml@mail.example.co.uk or (415) 555-0132 / +44 20 7946 0958.",
    "SSN 123-45-6789. Card 4111 1111 1111 1111 and 5500-0055-5555-5559.",
    "Logged from 192.168.1.20 and 2001:db8::8a2e:370:7334.",
  ].join("\n");
  // Execute
  const { text: out, counts } = redactPii(text);
  // Assert
  assert.equal(
    out,
    [
      "Reach [EMAIL] or [PHONE] / [PHONE].",
      "SSN [SSN]. Card [CARD] and [CARD].",
      "Logged from [IP] and [IP].",
    ].join("\n"),
  );
  assert.deepEqual(counts, { email: 1, phone: 2, ssn: 1, ip: 2, card: 2 });
});

Deno.test("redactPii leaves ordinary numbers, dates, times and versions alone", () => {
  // Prepare
  const text = "On 2024-01-15 at 10:30:15 order 1234567890123 shipped; v1.2.3; ratio 3:4; " +
    "4111-1111-1111-1112 fails Luhn; 000-12-3456 is no SSN; 999.999.999.999 is no IP.";
  // Execute
  const matches = findPii(text);
  // Assert
  assert.deepEqual(matches, []);
  assert.equal(redactPii(text).text, text);
});

Deno.test("findPii reports positions and resolves overlaps by priority", () => {
  // Prepare
  const text = "id 4111111111111111 mail x@y.org";
  // Execute
  const matches = findPii(text);
  // Assert
  assert.deepEqual(matches.map((m) => [m.kind, text.slice(m.start, m.end)]), [
    ["card", "4111111111111111"],
    ["email", "x@y.org"],
  ]);
});

Deno.test("luhnValid matches known card test numbers", () => {
  for (const n of ["4111111111111111", "5500005555555559", "378282246310005", "6011111111111117"]) {
    assert.ok(luhnValid(n), n);
  }
  assert.ok(!luhnValid("4111111111111112"));
  assert.ok(!luhnValid("abc"));
});
