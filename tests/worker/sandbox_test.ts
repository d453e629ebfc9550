/** What the worker tells its owner about its own permissions, from the owner's side. */
import assert from "node:assert/strict";
import { describeSandbox } from "../../lib/worker/sandbox.ts";

Deno.test("victim: a worker started with broad rights and no run says it is NOT sandboxed", () => {
  // Found in the worker audit: started as `deno run --allow-read --allow-write --allow-net
  // worker.ts` (no run: it cannot relaunch itself scoped), it printed "sandbox ... read all, write
  // all, net all", and its owner believed untrusted models and shards were fenced off.
  const broad = describeSandbox(42, (name) => name !== "run");
  assert.match(broad, /^NOT sandboxed \(pid 42\): read all, write all, net all, run scoped; /);
  assert.match(broad, /deno task worker/);
  // The relaunched child, every right scoped: a sandbox.
  assert.equal(
    describeSandbox(43, () => false),
    "sandbox (pid 43): read scoped, write scoped, net scoped, run scoped",
  );
});
