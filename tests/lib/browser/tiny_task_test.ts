/** The kernel check's link parameters from the attacker's side (lib/browser/tiny_task.ts). */
import assert from "node:assert/strict";
import { taskFromQuery, tinyKernelTask } from "../../../lib/browser/tiny_task.ts";

const query = (q: string) => taskFromQuery(new URLSearchParams(q));

Deno.test("the check's parameters within their limits override the tiny task", () => {
  assert.deepEqual(query("check"), tinyKernelTask());
  const task = query("check&steps=8&layers=2&width=64&T=64&B=4&heads=4");
  assert.deepEqual(
    [task.localSteps, task.B, task.T, task.model],
    [8, 4, 64, { kind: "gpt", maxT: 64, layers: 2, heads: 4, width: 64 }],
  );
  const largest = query("steps=100&layers=4&width=256&heads=8&T=256&B=16"); // CHECK_LIMITS' maxima
  assert.deepEqual(
    [largest.localSteps, largest.B, largest.T, largest.model],
    [100, 16, 256, { kind: "gpt", maxT: 256, layers: 4, heads: 8, width: 256 }],
  );
});

Deno.test("attacker: a link asking a huge task is refused before anything trains", () => {
  // Found in the browser audit: `?check` trains at once with no limit; this link froze the tab.
  assert.throws(
    () => query("check&steps=1000000000&width=65536&layers=64&T=4096&B=512"),
    (e: Error) =>
      e instanceof RangeError && /steps=1000000000 is not an integer from 1 to 100/.test(e.message),
  );
  const cases: [string, RegExp][] = [
    ["width=65536", /width=65536 is not an integer from 4 to 256/],
    ["layers=64", /layers=64 .* from 1 to 4/],
    ["T=4096", /T=4096 .* from 1 to 256/],
    ["B=512", /B=512 .* from 1 to 16/],
    ["heads=9", /heads=9/],
    ["steps=0", /steps=0/],
    ["steps=-1", /steps=-1/],
    ["steps=8abc", /steps=8abc/], // parseInt read 8
    ["steps=1e3", /steps=1e3/],
    ["steps=", /steps= /],
    ["width=99999999999999999999999", /width=99999999999999999999 is not/],
  ];
  for (const [q, reason] of cases) {
    assert.throws(() => query(q), (e: Error) => e instanceof RangeError && reason.test(e.message));
  }
});
