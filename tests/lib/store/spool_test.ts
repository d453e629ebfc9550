import assert from "node:assert/strict";
import {
  fileSpool,
  kvSpool,
  memorySpool,
  removeStaleKvSpools,
  type Spool,
  SPOOL_MAX_IDLE_MS,
} from "../../../lib/store/spool.ts";
import { FsBlockstore } from "../../../lib/store/fs_blockstore.ts";

/** Bytes 0..n-1 mod 251, written in pieces of the given sizes. */
async function fill(spool: Spool, sizes: number[]): Promise<Uint8Array> {
  const total = sizes.reduce((a, b) => a + b, 0);
  const all = Uint8Array.from({ length: total }, (_, i) => i % 251);
  let at = 0;
  for (const n of sizes) {
    const chunk = all.slice(at, at + n);
    await spool.write(chunk);
    chunk.fill(0); // a caller may reuse its buffer
    at += n;
  }
  return all;
}

async function readAll(spool: Spool): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of spool.chunks()) parts.push(c.slice());
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

// Across every piece boundary: 64 KiB (KV values), 1 MiB (file reads), and an exact multiple.
const SIZES = [1, 65_535, 2, 70_000, 1 << 20, 3, (1 << 20) - 3 - 70_000 - 65_538];

Deno.test("spools give back what was written, in memory, in a file and in KV", async (t) => {
  const dir = await Deno.makeTempDir();
  const kv = await Deno.openKv(":memory:");
  try {
    const kinds: [string, () => Promise<Spool>][] = [
      ["memory", () => Promise.resolve(memorySpool())],
      ["file", () => fileSpool(`${dir}/spool`)],
      ["kv", () => kvSpool(kv, ["svdb"])],
    ];
    for (const [name, open] of kinds) {
      await t.step(name, async () => {
        await using spool = await open();
        const want = await fill(spool, SIZES);
        assert.equal(spool.bytes, want.length);
        assert.deepEqual(await readAll(spool), want);
        assert.deepEqual(await readAll(spool), want, "read twice");
      });
    }
    // Discarded at the end of each step: nothing left behind.
    assert.deepEqual([...Deno.readDirSync(`${dir}/spool`)], []);
    assert.deepEqual(await Array.fromAsync(kv.list({ prefix: [] })), []);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a spool a crashed process left is collected once a day unwritten, one in use is not", async (t) => {
  await t.step("KV", async () => {
    const kv = await Deno.openKv(":memory:");
    try {
      const live = await kvSpool(kv, ["svdb"]);
      await live.write(new Uint8Array(10));
      const left = await kvSpool(kv, ["svdb"]);
      await left.write(new Uint8Array(70_000));
      await left.chunks()[Symbol.asyncIterator]().next(); // flushed, as an import would
      const markers = await Array.fromAsync(kv.list({ prefix: ["svdb", "spool"] }));
      const stale = markers[1]!;
      await kv.set(stale.key, { touchedAt: Date.now() - SPOOL_MAX_IDLE_MS - 1 });
      const staleId = stale.key.at(-1)!;

      assert.equal(await removeStaleKvSpools(kv, ["svdb"]), 1);

      const pieces = await Array.fromAsync(kv.list({ prefix: ["svdb", "spool_piece", staleId] }));
      assert.deepEqual(pieces, []);
      assert.equal((await Array.fromAsync(kv.list({ prefix: ["svdb", "spool"] }))).length, 1);
      await live.discard();
      await left.discard();
    } finally {
      kv.close();
    }
  });

  await t.step("fs", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const store = await FsBlockstore.open(dir);
      const live = await store.openSpool();
      await live.write(new Uint8Array(10));
      const left = await store.openSpool();
      await left.write(new Uint8Array(10));
      const files = [...Deno.readDirSync(store.spoolDir)].map((e) => e.name).sort();
      assert.equal(files.length, 2);
      const old = new Date(Date.now() - SPOOL_MAX_IDLE_MS - 60_000);
      const leftName = files[0]!;
      await Deno.utime(`${store.spoolDir}/${leftName}`, old, old);

      await store.removeTemporary();

      assert.deepEqual([...Deno.readDirSync(store.spoolDir)].map((e) => e.name), [files[1]!]);
      await live.discard();
      await left.discard();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
