/**
 * Downloading a model folder from the side of a gateway that stalls, or serves a folder whose
 * walk never ends.
 */
import assert from "node:assert/strict";
import type { CID } from "multiformats/cid";
import { computeCid } from "../../../lib/store/cid.ts";
import { directoryBlock } from "./_folder.ts";
import {
  fetchModelFolder,
  getModelFolder,
  MAX_FOLDER_ENTRIES,
  putModelFolder,
} from "../../../lib/model/model_folder.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";
import { Store } from "../../../lib/store/store.ts";

const blocks = new Map<string, Uint8Array>();
const dir = (links: [string, CID][]) => directoryBlock(blocks, links);

Deno.test("attacker: a gateway that trickles a byte at a time does not hold the download for ever", async () => {
  // Found in the job owner audit: plain fetch with no timeout, the body read whole before any
  // check; a gateway sending one byte every 500 ms held `job model` for as long as it liked.
  const root = await dir([["config.json", await computeCid(new Uint8Array([1]))]]);
  const timers = new Set<ReturnType<typeof setTimeout>>();
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      pull: (c) =>
        new Promise((r) => {
          const t = setTimeout(() => {
            timers.delete(t);
            if (n++ < 100) c.enqueue(new Uint8Array([0]));
            else c.close();
            r();
          }, 100);
          timers.add(t);
        }),
      cancel: () => timers.forEach(clearTimeout),
    });
    return new Response(body);
  });
  const started = performance.now();
  await assert.rejects(
    fetchModelFolder(`http://127.0.0.1:${server.addr.port}`, root, { timeoutMs: 400 }),
    /Cannot download .*(timed out|abort)/i,
  );
  assert.ok(performance.now() - started < 5_000, "ended at its timeout, not the body's end");
  timers.forEach(clearTimeout);
});

Deno.test("attacker: a folder whose walk grows exponentially is refused past the entry cap", async () => {
  // Each level is one block linking the next level twice: 20 blocks, 2^20 paths to walk.
  let level = await dir([]);
  for (let i = 0; i < 20; i++) level = await dir([["a", level], ["b", level]]);
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const cid = new URL(req.url).pathname.replace("/svdb/", "");
    return new Response(blocks.get(cid)!.slice());
  });
  await assert.rejects(
    fetchModelFolder(`http://127.0.0.1:${server.addr.port}`, level),
    new RegExp(`more than ${MAX_FOLDER_ENTRIES} entries`),
  );
});

Deno.test("attacker: a collection that starts while a model folder is written keeps the folder", async () => {
  // Prepare: a backend whose second block write waits until a collection has been started.
  // Found in the storage audit: putModelFolder wrote blocks and the pin straight to the backend,
  // outside the store's lock, so a gc run in that window (the finalize and gc crons share a
  // minute four times an hour, and anyone may POST /finalize) deleted the blocks written so far;
  // the job stayed finalized with a model folder that no longer opened.
  let writes = 0;
  let started!: () => void;
  const gcStarted = new Promise<void>((r) => started = r);
  class SlowBlockstore extends MemoryBlockstore {
    override async put(cid: CID, bytes: Uint8Array): Promise<void> {
      if (++writes === 2) await gcStarted;
      await super.put(cid, bytes);
    }
  }
  const store = new Store(new SlowBlockstore());
  const files = { "config.json": new Uint8Array([1, 2, 3]), "model.bin": new Uint8Array(4096) };

  // Execute: the folder's write starts; once a block is written, a collection begins.
  const writing = putModelFolder(store, files);
  while (writes < 2) await new Promise((r) => setTimeout(r, 1));
  const collecting = store.gc();
  started();
  const root = await writing;
  await collecting;

  // Assert: every file of the folder is still there.
  const folder = await getModelFolder(store, root);
  assert.deepEqual(Object.keys(folder).sort(), ["config.json", "model.bin"]);
});

Deno.test("attacker: a gateway's endless error answer is quoted by its start, not read whole", async () => {
  // Found in the inference audit: a failed download's answer was read with `res.text()`, whole; a
  // gateway answering 500 with a body that never ends kept the owner's `job model` (or `infer`)
  // reading it, into memory, until the request's 10-minute timeout.
  const root = await dir([]);
  let cancelled = false;
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    const body = new ReadableStream<Uint8Array>({
      pull: (c) =>
        new Promise<void>((r) =>
          setTimeout(() => {
            if (!cancelled) c.enqueue(new Uint8Array(64).fill(98));
            r();
          }, 5)
        ),
      cancel: () => {
        cancelled = true;
      },
    });
    return new Response(body, { status: 500 });
  });
  await assert.rejects(
    fetchModelFolder(`http://127.0.0.1:${server.addr.port}`, root, { timeoutMs: 60_000 }),
    /Cannot download .*: 500 b{10}/,
  );
  for (let i = 0; i < 100 && !cancelled; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cancelled, "the rest of the answer is cancelled unread");
});
