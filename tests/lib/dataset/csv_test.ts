import assert from "node:assert/strict";
import { formatCsv, parseCsv } from "../../../lib/dataset/csv.ts";
import { DatasetInputError } from "../../../lib/dataset/dataset_error.ts";

Deno.test("parseCsv reads quotes, doubled quotes, line breaks in fields, CRLF and a BOM", () => {
  // Prepare
  const text = '\uFEFFid,note\r\n1,"line one\nline two"\r\n2,"say ""hi"", ok"\r\n\r\n3,\r\n';
  // Execute
  const { columns, rows } = parseCsv(text);
  // Assert
  assert.deepEqual(columns, ["id", "note"]);
  assert.deepEqual(rows, [["1", "line one\nline two"], ["2", 'say "hi", ok'], ["3", ""]]);
});

Deno.test("formatCsv and parseCsv round-trip", () => {
  const rows = [["a,b", 'q"uote'], ["line\nbreak", ""], ["plain", "x"]];
  assert.deepEqual(parseCsv(formatCsv(["c1", "c2"], rows)), { columns: ["c1", "c2"], rows });
});

Deno.test("parseCsv names the line of malformed input", () => {
  const cases: [string, RegExp][] = [
    ["", /no header row/],
    ["a,a\n1,2\n", /column "a" appears twice/],
    ['a,b\n1,"x\ny"\n2,3,4\n', /line 4 has 3 fields, the header 2/],
    ['a,b\n1,"open\n', /line 2: a quoted field never closes/],
    ['a,b\n1,"x"y\n', /line 2: unexpected "y"/],
    ['a,b\n1,x"y\n', /line 2: a quote inside an unquoted field/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parseCsv(text),
      (e) => e instanceof DatasetInputError && message.test(e.message),
    );
  }
});
