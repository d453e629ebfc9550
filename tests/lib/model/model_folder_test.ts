/**
 * Downloading a model folder from the side of a gateway that stalls, or serves a folder whose
 * walk never ends.
 */
import assert from "node:assert/strict";
import type { CID } from "multiformats/cid";
import { computeCid } from "../../../lib/store/cid.ts";
import { directoryBlock } from "./_folder.ts";
import { fetchModelFolder, MAX_FOLDER_ENTRIES } from "../../../lib/model/model_folder.ts";

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
