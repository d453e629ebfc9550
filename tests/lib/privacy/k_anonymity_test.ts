import assert from "node:assert/strict";
import {
  categoryHierarchy,
  equivalenceClasses,
  isKAnonymous,
  kAnonymize,
  numericRanges,
  prefixMask,
  type Row,
} from "../../../lib/privacy/k_anonymity.ts";

const PEOPLE: Row[] = [
  { name: "Ann", age: 31, zip: "94110", job: "nurse", diagnosis: "flu" },
  { name: "Bob", age: 35, zip: "94112", job: "surgeon", diagnosis: "cold" },
  { name: "Cid", age: 38, zip: "94117", job: "nurse", diagnosis: "flu" },
  { name: "Dee", age: 52, zip: "10001", job: "teacher", diagnosis: "asthma" },
  { name: "Eve", age: 57, zip: "10003", job: "lecturer", diagnosis: "flu" },
  { name: "Fay", age: 55, zip: "10002", job: "teacher", diagnosis: "cold" },
  { name: "Gus", age: 90, zip: "73301", job: "pilot", diagnosis: "gout" },
];
const JOBS = categoryHierarchy({
  nurse: ["health"],
  surgeon: ["health"],
  teacher: ["education"],
  lecturer: ["education"],
  pilot: ["transport"],
});

Deno.test("generalizers produce the documented levels", () => {
  const age = numericRanges([10, 20]);
  assert.deepEqual([0, 1, 2, 3].map((l) => age.generalize(34, l)), [34, "30-39", "20-39", "*"]);
  const zip = prefixMask(5);
  assert.deepEqual([0, 1, 4, 5].map((l) => zip.generalize("94110", l)), [
    "94110",
    "9411*",
    "9****",
    "*",
  ]);
  assert.deepEqual([0, 1, 2].map((l) => JOBS.generalize("nurse", l)), ["nurse", "health", "*"]);
  assert.equal(age.levels, 3);
});

Deno.test("kAnonymize reaches k=3 by generalising, suppresses the outlier, drops names", () => {
  // Prepare
  const qis = { age: numericRanges([10, 20, 40]), zip: prefixMask(5), job: JOBS };
  // Execute
  const out = kAnonymize(PEOPLE, {
    k: 3,
    quasiIdentifiers: qis,
    dropColumns: ["name"],
    maxSuppression: 0.15,
  });
  // Assert
  assert.ok(isKAnonymous(out.rows, ["age", "zip", "job"], 3));
  assert.equal(out.suppressed, 1); // the 90-year-old pilot
  assert.equal(out.rows.length, 6);
  assert.ok(out.rows.every((r) => !("name" in r) && typeof r.diagnosis === "string"));
  assert.deepEqual(out.rows[0], { age: "30-39", zip: "9411*", job: "health", diagnosis: "flu" });
  assert.deepEqual(PEOPLE[0]!.name, "Ann", "input untouched");
});

Deno.test("kAnonymize without suppression generalises until every class has k rows", () => {
  // Execute
  const out = kAnonymize(PEOPLE, {
    k: 2,
    quasiIdentifiers: { age: numericRanges([10, 20, 40]), zip: prefixMask(5) },
    maxSuppression: 0,
  });
  // Assert
  assert.equal(out.suppressed, 0);
  assert.ok(isKAnonymous(out.rows, ["age", "zip"], 2));
  const sizes = [...equivalenceClasses(out.rows, ["age", "zip"]).values()];
  assert.equal(sizes.reduce((a, b) => a + b, 0), PEOPLE.length);
});

Deno.test("isKAnonymous and kAnonymize edge cases", () => {
  assert.ok(isKAnonymous([], ["a"], 5));
  assert.ok(!isKAnonymous(PEOPLE, ["zip"], 2));
  const tooFew = kAnonymize(PEOPLE.slice(0, 2), {
    k: 3,
    quasiIdentifiers: { zip: prefixMask(5) },
    maxSuppression: 0,
  });
  assert.deepEqual(tooFew.rows, []); // fewer than k rows in total: nothing can be released
  assert.equal(tooFew.suppressed, 2);
  assert.throws(() => kAnonymize(PEOPLE, { k: 0, quasiIdentifiers: {} }), RangeError);
});
