import assert from "node:assert/strict";
import {
  type CID,
  CidMismatchError,
  computeCid,
  InvalidCidError,
  parseCid,
} from "../../../lib/store/cid.ts";
import { blockKey, BlockNotFoundError } from "../../../lib/store/blockstore.ts";
import { FsBlockstore } from "../../../lib/store/fs_blockstore.ts";
import { KvBlockstore } from "../../../lib/store/kv_blockstore.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";
import { openFsStore, Store } from "../../../lib/store/store.ts";
import { randomBytes } from "../_helpers.ts";

const KIB = 1024;

/** Runs `fn` against a memory store, a Deno KV store and a filesystem store in a temp dir. */
async function withStores(fn: (store: Store, label: string) => Promise<void>): Promise<void> {
  await fn(new Store(new MemoryBlockstore()), "memory");
  const kv = new Store(await KvBlockstore.open(":memory:"));
  try {
    await fn(kv, "kv");
  } finally {
    await kv.close();
  }
  const dir = await Deno.makeTempDir();
  const store = await openFsStore(dir, { sync: false });
  try {
    await fn(store, "fs");
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function count(it: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of it) n++;
  return n;
}

Deno.test("put/get round-trips sizes around chunk boundaries with IPFS CIDs", async () => {
  await withStores(async (store, label) => {
    for (const size of [0, 1, 256 * KIB, 256 * KIB + 1, 3 * 1024 * KIB + 7]) {
      // Prepare
      const bytes = randomBytes(size, size + 1);
      // Execute
      const cid = await store.put(bytes);
      const back = await store.get(cid);
      // Assert
      assert.deepEqual(back, bytes, `${label} ${size}`);
      assert.ok(cid.equals(await computeCid(bytes)), `${label} ${size} cid`);
      assert.ok(await store.has(cid));
    }
  });
});

Deno.test("put with cidVersion 0 gives the `ipfs add` CID and reads back", async () => {
  await withStores(async (store) => {
    // Execute
    const cid = await store.put(new TextEncoder().encode("hello world\n"), { cidVersion: 0 });
    // Assert
    assert.equal(cid.toString(), "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
    assert.equal(new TextDecoder().decode(await store.get(`artha://${cid}`)), "hello world\n");
  });
});

Deno.test("a file of 175 chunks (two DAG levels) round-trips through a stream", async () => {
  // Prepare: 175 chunks > 174 children -> balanced layout needs a second level
  const store = new Store(new MemoryBlockstore());
  const bytes = randomBytes(175 * 256 * KIB - 3, 9);
  async function* pieces() {
    for (let i = 0; i < bytes.length; i += 1_000_003) yield bytes.subarray(i, i + 1_000_003);
  }
  // Execute
  const cid = await store.put(pieces());
  const parts: number[] = [];
  let offset = 0;
  let same = true;
  for await (const part of store.cat(cid)) {
    parts.push(part.length);
    for (let i = 0; same && i < part.length; i += 4099) same = part[i] === bytes[offset + i];
    offset += part.length;
  }
  // Assert
  assert.ok(same);
  assert.equal(offset, bytes.length);
  assert.equal(parts.length, 175);
  assert.equal(await count(store.blockstore.blocks()), 175 + 2 + 1); // leaves, 2 inner, root
  assert.ok(cid.equals(await computeCid(bytes)));
});

Deno.test("get rejects a tampered or truncated block with CidMismatchError", async () => {
  await withStores(async (store, label) => {
    // Prepare
    const bytes = randomBytes(600 * KIB, 3);
    const cid = await store.put(bytes);
    const leaves: string[] = []; // blocks() lists every block as raw: pick a full chunk
    for await (const c of store.blockstore.blocks()) {
      if ((await store.blockstore.get(c)).length === 256 * KIB) leaves.push(c.toString());
    }
    const leaf = parseCid(leaves[0]!);
    const original = await store.blockstore.get(leaf);
    const tampered = original.slice();
    tampered[100]! ^= 0x01;
    // Execute / Assert
    await store.blockstore.delete(leaf);
    await store.blockstore.put(leaf, tampered);
    await assert.rejects(
      store.get(cid),
      (e) => e instanceof CidMismatchError && e.code === "CID_MISMATCH",
      label,
    );
    await store.blockstore.delete(leaf);
    await store.blockstore.put(leaf, original.subarray(0, 1000));
    await assert.rejects(store.get(cid), CidMismatchError);
    await assert.rejects(store.getBlock(leaf), CidMismatchError);
  });
});

Deno.test("missing blocks and malformed CIDs raise typed errors", async () => {
  await withStores(async (store) => {
    // Prepare
    const bytes = randomBytes(300 * KIB, 4);
    const cid = await store.put(bytes);
    const absent = await computeCid(new TextEncoder().encode("never stored"));
    let leaf;
    for await (const c of store.blockstore.blocks()) {
      if ((await store.blockstore.get(c)).length === 256 * KIB) leaf = c;
    }
    // Execute
    await store.blockstore.delete(leaf!);
    // Assert
    await assert.rejects(
      store.get(absent),
      (e) => e instanceof BlockNotFoundError && e.code === "BLOCK_NOT_FOUND",
    );
    await assert.rejects(store.get(cid), BlockNotFoundError);
    assert.equal(await store.has(cid), false);
    assert.equal(await store.has(absent), false);
    await assert.rejects(store.get("artha://not-a-cid"), InvalidCidError);
    await assert.rejects(store.pin(absent), BlockNotFoundError);
  });
});

Deno.test("gc keeps pinned DAGs, shared blocks, and removes the rest", async () => {
  await withStores(async (store, label) => {
    // Prepare: a and b share their first 256 KiB chunk; c is unpinned
    const shared = randomBytes(256 * KIB, 5);
    const a = new Uint8Array([...shared, ...randomBytes(10 * KIB, 6)]);
    const b = new Uint8Array([...shared, ...randomBytes(20 * KIB, 7)]);
    const cidA = await store.put(a);
    const cidB = await store.put(b);
    const cidC = await store.put(randomBytes(50 * KIB, 8), { pin: false });
    // Execute
    const first = await store.gc();
    await store.unpin(cidA);
    const second = await store.gc();
    // Assert
    assert.deepEqual(first, { removed: 1, kept: 5, expired: 0 }, label); // a: root+2, b: root+1 new
    assert.deepEqual(second, { removed: 2, kept: 3, expired: 0 }, label);
    assert.deepEqual(await store.get(cidB), b);
    assert.equal(await store.has(cidA), false);
    assert.equal(await store.has(cidC), false);
    assert.deepEqual((await store.pins()).map(String), [cidB.toString()]);
    // pin() re-protects a DAG that is (again) complete
    await store.put(a, { pin: false });
    await store.pin(cidA);
    assert.deepEqual(await store.gc(), { removed: 0, kept: 5, expired: 0 });
  });
});

Deno.test("gc running alongside puts never deletes a block a finished put needs", async () => {
  // Prepare
  const store = new Store(new MemoryBlockstore());
  const inputs = [1, 2, 3, 4, 5, 6].map((i) => randomBytes(300 * KIB, 100 + i));
  // Execute
  const puts = inputs.map((b) => store.put(b));
  const gcs = [store.gc(), store.gc()];
  const cids = await Promise.all(puts);
  await Promise.all(gcs);
  await store.gc();
  // Assert
  for (let i = 0; i < inputs.length; i++) assert.deepEqual(await store.get(cids[i]!), inputs[i]);
});

Deno.test("fs store leaves no temp files; gc removes stale ones from interrupted writes", async () => {
  // Prepare
  const dir = await Deno.makeTempDir();
  const blocks = await FsBlockstore.open(dir);
  const store = new Store(blocks);
  try {
    const cid = await store.put(randomBytes(700 * KIB, 11));
    const key = blockKey(cid);
    const shardDir = `${dir}/blocks/${key.slice(-3, -1)}`;
    const listing = async () => {
      const names: string[] = [];
      for await (const shard of Deno.readDir(`${dir}/blocks`)) {
        for await (const e of Deno.readDir(`${dir}/blocks/${shard.name}`)) names.push(e.name);
      }
      return names;
    };
    const before = await listing();
    // simulate a crash mid-write: a temp file that never got renamed
    const stale = `${shardDir}/.tmp-${key}.123`;
    await Deno.writeFile(stale, new Uint8Array(10));
    await Deno.utime(stale, new Date(0), new Date(0));
    // Execute
    const listed = await count(blocks.blocks());
    const result = await store.gc();
    // Assert
    assert.ok(before.every((n) => !n.startsWith(".tmp-")));
    assert.equal(listed, 4); // temp file is not a block
    assert.deepEqual(result, { removed: 0, kept: 4, expired: 0 });
    assert.deepEqual((await listing()).sort(), before.sort());
    // a reopened store sees the same pins and blocks
    const reopened = await openFsStore(dir);
    assert.deepEqual((await reopened.pins()).map(String), [cid.toString()]);
    assert.equal((await reopened.get(cid)).length, 700 * KIB);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gc in one process waits for a put still running in another (fs lock file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "artha-store-lock-" });
  const lib = new URL("../../../lib/store/", import.meta.url).href;
  // The other process: a put whose blocks are all on disk, pausing 800 ms before it pins the
  // root (where a gc elsewhere would find every one of them unreachable).
  const code = `
    import { FsBlockstore } from ${JSON.stringify(lib + "fs_blockstore.ts")};
    import { Store } from ${JSON.stringify(lib + "store.ts")};
    const fs = await FsBlockstore.open(${JSON.stringify(dir)}, { sync: false });
    const putPin = fs.putPin.bind(fs);
    fs.putPin = async (cid) => {
      console.log("writing");
      await new Promise((r) => setTimeout(r, 800));
      await putPin(cid);
    };
    const store = new Store(fs);
    const bytes = new Uint8Array(8 * 300_000).map((_, i) => 1 + Math.floor(i / 300_000));
    const cid = await store.put(bytes);
    console.log("done " + cid.toString());
    await store.close();`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: new URL("../../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const until = async (re: RegExp) => {
    while (!re.test(out)) {
      const { value, done } = await lines.read();
      if (done) break;
      out += value;
    }
  };
  const store = await openFsStore(dir, { sync: false });
  try {
    await until(/writing/);
    assert.match(out, /writing/, "the other process reached its pin");
    // Every block is on disk, unpinned: without the lock gc would delete them now.
    const { removed } = await store.gc();
    assert.equal(removed, 0);
    await until(/done \S+/);
    assert.equal((await child.status).code, 0);
    const cid = out.match(/done (\S+)/)![1]!;
    const bytes = await store.get(cid);
    assert.equal(bytes.length, 8 * 300_000);
    assert.equal(bytes[7 * 300_000], 8);
  } finally {
    await lines.cancel().catch(() => {});
    try {
      child.kill();
    } catch {
      // already exited
    }
    await child.status;
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("attacker: a put whose bytes stall holds up neither a gc nor the puts behind it", async () => {
  await withStores(async (store, label) => {
    // Prepare: a put whose source sends a chunk, then nothing until released. Found in the
    // storage audit: an upload's body streams into put under the store's shared lock; a gc then
    // waited for it, and every put, pin and lease queued behind the waiting gc, so one signer
    // trickling a body stopped intake, checkpoints and so every round from closing.
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    async function* stalled() {
      yield randomBytes(64 * KIB, 1);
      await gate;
      yield randomBytes(64 * KIB, 2);
    }
    const slow = store.put(stalled());
    await new Promise((r) => setTimeout(r, 20));

    // Execute: a collection starts, then an honest put.
    const gc = store.gc();
    const honest = randomBytes(8 * KIB, 3);
    const timedOut = Symbol("timed out");
    const put = await Promise.race([
      store.put(honest),
      new Promise((r) => setTimeout(r, 3_000, timedOut)),
    ]);

    // Assert: the honest put finished while the stalled one was still open; once the stall
    // ends, the gc runs and keeps both.
    assert.notEqual(put, timedOut, `${label}: a put waited behind a gc waiting on a stalled put`);
    release();
    const stalledCid = await slow;
    await gc;
    assert.deepEqual(await store.get(put as CID), honest, label);
    assert.equal((await store.get(stalledCid)).length, 128 * KIB, label);
  });
});
