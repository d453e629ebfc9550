/**
 * A client that disconnects from GET /svdb/<cid> in the middle of the body, over a real socket:
 * the server stops reading blocks for it, logs no "cannot close or enqueue" TypeError (nor any
 * other error), and keeps serving everyone else the whole file.
 */
import assert from "node:assert/strict";
import type { Store } from "../../lib/store/store.ts";
import { setupCoordinator } from "./_coordinator.ts";
import { randomBytes } from "../lib/_helpers.ts";

/** Counts the blocks the store's backend hands out until `restore()`. */
function countReads(store: Store): { reads: () => number; restore: () => void } {
  const original = store.blockstore.get;
  let reads = 0;
  store.blockstore.get = (cid) => {
    reads++;
    return original.call(store.blockstore, cid);
  };
  return { reads: () => reads, restore: () => void (store.blockstore.get = original) };
}

/** Collects what would be logged or raised unhandled until `restore()`. */
function collectErrors(): { errors: string[]; restore: () => void } {
  const errors: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void errors.push(args.map(String).join(" "));
  const unhandled = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    errors.push(`unhandled rejection: ${e.reason}`);
  };
  const uncaught = (e: ErrorEvent) => {
    e.preventDefault();
    errors.push(`uncaught: ${e.message}`);
  };
  globalThis.addEventListener("unhandledrejection", unhandled);
  globalThis.addEventListener("error", uncaught);
  return {
    errors,
    restore: () => {
      console.error = original;
      globalThis.removeEventListener("unhandledrejection", unhandled);
      globalThis.removeEventListener("error", uncaught);
    },
  };
}

Deno.test("a client leaving a GET /svdb/<cid> mid-body: no errors, the server keeps serving", async () => {
  // Prepare: a 32 MiB file (128 leaves), far more than the sockets buffer.
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario();
  const bytes = randomBytes(32 << 20);
  const cid = (await fx.store.put(bytes)).toString();
  const log = collectErrors();
  const counted = countReads(fx.store);
  const errors: unknown[] = [];
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      onListen() {},
      onError: (e) => (errors.push(e), new Response(null, { status: 500 })),
    },
    s.route,
  );
  const url = `http://127.0.0.1:${server.addr.port}/svdb/${cid}`;
  try {
    // Execute: read the first chunk of the body, then hang up.
    const leaving = new AbortController();
    const res = await fetch(url, { signal: leaving.signal });
    assert.equal(res.status, 200);
    const first = await res.body!.getReader().read();
    assert.ok(first.value && first.value.length > 0);
    leaving.abort();

    // Assert: the next client gets the whole file.
    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.deepEqual(new Uint8Array(await whole.arrayBuffer()), bytes);
  } finally {
    await server.shutdown(); // waits until every connection, the one left too, is done
    counted.restore();
    log.restore();
  }
  assert.deepEqual([...log.errors, ...errors.map(String)], []);
  // The left stream stopped early: one whole read plus less than a second one.
  const leaves = Math.ceil(bytes.length / (256 << 10));
  assert.ok(counted.reads() < 2 * leaves, `${counted.reads()} block reads for ${leaves} leaves`);
});
