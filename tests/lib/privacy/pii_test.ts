import assert from "node:assert/strict";
import {
  emptyPiiCounts,
  findPii,
  ibanValid,
  luhnValid,
  PII_KINDS,
  PII_PLACEHOLDER,
  redactPii,
} from "../../../lib/privacy/pii.ts";

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
  assert.deepEqual(counts, { ...emptyPiiCounts(), email: 1, phone: 2, ssn: 1, ip: 2, card: 2 });
});

Deno.test("redactPii removes names, addresses, dates of birth and IBANs", () => {
  // Prepare
  const text = "Mrs. Helen Carter, born 12 June 1948, lives at 4 Church Lane, York YO1 7HH; " +
    "refunds to GB82 WEST 1234 5698 7654 32 or helen [at] example [dot] org, tel 06 12 34 56 78.";
  // Execute
  const { text: out, counts } = redactPii(text);
  // Assert
  assert.equal(
    out,
    "Mrs. [NAME], born [DOB], lives at [ADDRESS]; refunds to [IBAN] or [EMAIL], tel [PHONE].",
  );
  assert.deepEqual(counts, {
    ...emptyPiiCounts(),
    name: 1,
    dob: 1,
    address: 1,
    iban: 1,
    email: 1,
    phone: 1,
  });
});

Deno.test("attacker: an unformatted SSN after an SSN cue is redacted, nine bare digits elsewhere are not", () => {
  // Found in a privacy audit: only 123-45-6789 and 123 45 6789 were SSNs, so the way SSNs are
  // usually typed into forms survived, even right after "SSN".
  const cued = [
    "SSN: 123456789",
    "ssn 219099999",
    "Social Security Number: 536906789",
    "SSN#457555462",
    "social security no. 123456789",
  ];
  for (const text of cued) {
    const out = redactPii(text);
    assert.equal(out.counts.ssn, 1, text);
    assert.ok(!/\d{9}/.test(out.text), out.text);
  }
  // Invalid SSN ranges and uncued order numbers stay.
  for (const text of ["order 123456789 shipped", "SSN: 666123456 is no SSN", "ssn 900123456"]) {
    assert.equal(redactPii(text).counts.ssn, 0, text);
  }
});

Deno.test("attacker: IBANs in dashed groups and cards in tab- or double-space-separated groups are redacted", () => {
  // Prepare: the layouts a spreadsheet export or a hand-typed form gives, which passed through
  // to the training data before (an IBAN was looked for in space groups only, a card in groups
  // of one space, dot or dash).
  const text = [
    "wire to DE89-3704-0044-0532-0130-00 today",
    "card\t4111\t1111\t1111\t1111\tvalid",
    "card 5500  0055  5555  5559 on file",
  ].join("\n");
  // Execute
  const { text: out, counts } = redactPii(text);
  // Assert
  assert.equal(
    out,
    ["wire to [IBAN] today", "card\t[CARD]\tvalid", "card [CARD] on file"].join("\n"),
  );
  assert.deepEqual(counts, { ...emptyPiiCounts(), iban: 1, card: 2 });
  // Mixed separators inside one number still do not make a card of a run of figures.
  assert.equal(redactPii("totals 4111 1111-1111\t1111").counts.card, 0);
});

Deno.test("redactPii leaves ordinary numbers, dates, times and versions alone", () => {
  // Prepare
  const text = "On 2024-01-15 at 10:30:15 order 1234567890123 shipped; v1.2.3; ratio 3:4; " +
    "4111-1111-1111-1112 fails Luhn; 000-12-3456 is no SSN; 999.999.999.999 is no IP; " +
    "GB82 WEST 1234 5698 7654 33 fails mod-97; 2 500 000 people; $1,299.00; May I ask?";
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

Deno.test("findPii looks only for the kinds asked for", () => {
  // Prepare
  const text = "Ask Sarah Thompson, 42 Baker Street, sarah@example.com";
  // Execute
  const kinds = (only: Parameters<typeof findPii>[1]) => findPii(text, only).map((m) => m.kind);
  // Assert
  assert.deepEqual(kinds({}), ["name", "address", "email"]);
  assert.deepEqual(kinds({ kinds: ["email", "address"] }), ["address", "email"]);
  assert.deepEqual(kinds({ kinds: [] }), []);
});

Deno.test("every kind has a placeholder", () => {
  for (const kind of PII_KINDS) assert.match(PII_PLACEHOLDER[kind], /^\[[A-Z]+\]$/);
  assert.equal(Object.keys(PII_PLACEHOLDER).length, PII_KINDS.length);
});

Deno.test("luhnValid matches known card test numbers", () => {
  for (const n of ["4111111111111111", "5500005555555559", "378282246310005", "6011111111111117"]) {
    assert.ok(luhnValid(n), n);
  }
  assert.ok(!luhnValid("4111111111111112"));
  assert.ok(!luhnValid("abc"));
});

Deno.test("ibanValid checks the country length and mod-97", () => {
  for (const iban of ["DE89370400440532013000", "gb82 west 1234 5698 7654 32", "NO9386011117947"]) {
    assert.ok(ibanValid(iban), iban);
  }
  assert.ok(!ibanValid("DE89370400440532013001")); // check digits
  assert.ok(!ibanValid("DE8937040044053201300")); // one character short
  assert.ok(!ibanValid("ZZ89370400440532013000")); // no such country
});

Deno.test("attacker: cards, phones and IBANs with Unicode spaces, dashes or digits are redacted", () => {
  // Found in the data owner audit: the patterns knew ASCII spaces, dashes and digits only, so a
  // no-break or narrow space (what a word processor or a French locale types), a Unicode dash or
  // full-width digits let a number through that the same number with ASCII spaces did not.
  // Prepare
  const text =
    "Card: 4111\u00a01111\u00a01111\u00a01111; tel +33\u202f6\u202f12\u202f34\u202f56\u202f78; " +
    "IBAN GB82\u00a0WEST 1234 5698 7654 32";
  const others = [
    "card ４１１１ １１１１ １１１１ １１１１",
    "card ４１１１\u3000１１１１\u3000１１１１\u3000１１１１",
    "call 4１5-555-0132",
    "call 415\u2011555\u20110132",
    "card ٤١١١ ١١١١ ١١١١ ١١١١",
  ];
  // Execute
  const { text: out, counts } = redactPii(text);
  // Assert
  assert.equal(out, "Card: [CARD]; tel [PHONE]; IBAN [IBAN]");
  assert.deepEqual(counts, { ...emptyPiiCounts(), card: 1, phone: 1, iban: 1 });
  for (const other of others) assert.match(redactPii(other).text, /^\w+ \[(CARD|PHONE)\]$/, other);
});

Deno.test("findPii on Unicode text reports spans of the original text, astral characters included", () => {
  // Prepare: detection runs on a normalised copy; its offsets must be the original's.
  const text =
    "😀 Mail x@y.org, card 4111\u00a01111\u00a01111\u00a01111 🇫🇷, 2\u202f500\u202f000 people";
  // Execute
  const matches = findPii(text);
  // Assert: the original characters, no-break spaces kept; thousands are still no phone.
  assert.deepEqual(matches.map((m) => [m.kind, m.text, text.slice(m.start, m.end)]), [
    ["email", "x@y.org", "x@y.org"],
    ["card", "4111\u00a01111\u00a01111\u00a01111", "4111\u00a01111\u00a01111\u00a01111"],
  ]);
});

Deno.test("attacker: a lower-case street and digits after 'number' or 'tel' are redacted", () => {
  // Found in the data owner audit: the street pattern needed capitals, "number" alone was no
  // phone cue, and seven-digit local numbers were no phone even after "tel".
  // Prepare
  const leaks = {
    "she lives at 42 baker street, london": "she lives at [ADDRESS], london",
    "number 4155550132": "number [PHONE]",
    "tel 555-0132": "tel [PHONE]",
    "Number: 4155550132 (mobile)": "Number: [PHONE] (mobile)",
    "we moved to 7 high st, leeds": "we moved to [ADDRESS], leeds",
  };
  // Quantities before a road, other nouns' numbers and large figures keep their meaning.
  const kept = [
    "a 2 hour drive down the road.",
    "it is 5 minutes down the road.",
    "we need 2 new road bikes",
    "order number 12345678 shipped",
    "call 2 500 000 people",
  ];
  // Execute
  const redacted = Object.keys(leaks).map((text) => redactPii(text).text);
  const found = kept.map((text) => findPii(text));
  // Assert
  assert.deepEqual(redacted, Object.values(leaks));
  assert.deepEqual(found, kept.map(() => []));
});

Deno.test("lower-case quantities and products before a street type are no address", () => {
  // Found in review: after the lower-case street pattern, "4 wheel drive" and the like were
  // redacted as addresses; a lower-case street now needs a cue such as "at" before its number.
  // Prepare
  const kept = [
    "It has 4 wheel drive.",
    "I bought a 2 TB hard drive, it was cheap.",
    "Plug in the 1 usb flash drive.",
    "We took 3 test drive in the rain.",
    "Get 10 free test drive!",
    "version 2 beta drive.",
    "page 3 main road.",
    "Win 1 million st.",
    "the 5 star avenue.",
    "It runs in 4 wheel drive.",
  ];
  const found = {
    "she lives at 42 baker street, london": "42 baker street",
    "I live on 23 wellington road in dublin.": "23 wellington road",
    "address: 12 elm road, york": "12 elm road",
    "We met outside 55 Oak Drive yesterday.": "55 Oak Drive",
  };
  // Execute
  const keptFound = kept.map((text) => findPii(text));
  const addresses = Object.keys(found).map((text) =>
    findPii(text).filter((m) => m.kind === "address").map((m) => m.text).join("|")
  );
  // Assert
  assert.deepEqual(keptFound, kept.map(() => []));
  assert.deepEqual(addresses, Object.values(found));
});

Deno.test("figures after 'number', 'text', 'contact' or 'sms' are no phone, numbers after 'tel' still are", () => {
  // Found in review: any cue let a 7-digit figure through as a local number, 8 digits after
  // "number" or "text" were a phone, and `^` in the cue matched where the look-back window
  // was cut rather than a line start.
  // Prepare
  const kept = [
    "Number 1000 1000 items",
    "ticket #, number 12345678",
    "contact 100 1000",
    "Text 2024 0101",
    "sms 200-2000",
    "call 100-1000",
    `Order${" ".repeat(25)}number 4155550132`,
  ];
  const found = {
    "tel 555-0132": "555-0132",
    "number 4155550132": "4155550132",
    "Number: 415 555 0132": "415 555 0132",
    "Notes\nNumber: 4155550132 (mobile)": "4155550132",
    "contact number 91234567": "91234567",
    "text 4155550132": "4155550132",
  };
  // Execute
  const keptFound = kept.map((text) => findPii(text));
  const phones = Object.keys(found).map((text) =>
    findPii(text).filter((m) => m.kind === "phone").map((m) => m.text).join("|")
  );
  // Assert
  assert.deepEqual(keptFound, kept.map(() => []));
  assert.deepEqual(phones, Object.values(found));
});
