/**
 * Leases and collection: a leased root lives until its lease is over, then goes unless a pin or
 * a live lease reaches its blocks; leases survive a reopen of the filesystem store; a store
 * written before blocks were keyed by codec is upgraded on open without turning an unpinned raw
 * upload into a dag-pb node.
 */
import assert from "node:assert/strict";
import * as dagPb from "@ipld/dag-pb";
import { importBytes } from "ipfs-unixfs-importer";
import { type CID, DAG_PB_CODE, importerOptions } from "../../../lib/store/cid.ts";
import { CID as MfCID } from "multiformats/cid";
import { BlockNotFoundError, multihashKey } from "../../../lib/store/blockstore.ts";
import { collectGarbage } from "../../../lib/store/collect_garbage.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";
import { openFsStore, Store } from "../../../lib/store/store.ts";
import { randomBytes } from "../_helpers.ts";

const KIB = 1024;

async function withStores(fn: (store: Store, label: string) => Promise<void>): Promise<void> {
  await fn(new Store(new MemoryBlockstore()), "memory");
  const dir = await Deno.makeTempDir();
  const store = await openFsStore(dir, { sync: false });
  try {
    await fn(store, "fs");
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a leased upload lives until its lease ends, then only what a pin reaches stays", async () => {
  await withStores(async (store, label) => {
    // Prepare: a pinned file and a leased one sharing their first chunk, and a leased stray
    const shared = randomBytes(256 * KIB, 1);
    const pinned = await store.put(new Uint8Array([...shared, 1, 2, 3]));
    const leased = await store.put(new Uint8Array([...shared, 4, 5]), {
      pin: false,
      leaseUntil: 1_000,
    });
    const stray = await store.put(randomBytes(10 * KIB, 2), { pin: false, leaseUntil: 500 });
    // Execute / Assert
    assert.deepEqual(await collectGarbage(store, 499), { removed: 0, kept: 6, expired: 0 }, label);
    assert.deepEqual(await collectGarbage(store, 500), { removed: 1, kept: 5, expired: 1 }, label);
    assert.equal(await store.has(stray), false);
    assert.equal(await store.has(leased), true);
    const late = await collectGarbage(store, 1_000);
    assert.deepEqual(late, { removed: 2, kept: 3, expired: 1 }, label); // its root and tail
    assert.equal(await store.has(leased), false);
    assert.equal(await store.has(pinned), true, "the shared chunk stayed with the pin");
    assert.deepEqual(await store.leases(), []);
  });
});

Deno.test("a lease is only ever extended, and survives reopening the fs store", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Prepare
    const store = await openFsStore(dir, { sync: false });
    const cid = await store.put(new Uint8Array([9]), { pin: false, leaseUntil: 2_000 });
    await store.lease(cid, 1_000); // earlier: ignored
    await store.put(new Uint8Array([9]), { pin: false, leaseUntil: 3_000 }); // later: kept
    await store.close();
    // Execute
    const reopened = await openFsStore(dir, { sync: false });
    const leases = await reopened.leases();
    const kept = await collectGarbage(reopened, 2_999);
    const gone = await collectGarbage(reopened, 3_000);
    await reopened.close();
    // Assert
    assert.deepEqual(leases.map((l) => [l.cid.toString(), l.expiresAt]), [[cid.toString(), 3_000]]);
    assert.equal(kept.removed, 0);
    assert.equal(gone.removed, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Writes the blocks of `bytes` in the old layout (file named by multihash alone). */
async function writeLegacy(dir: string, bytes: Uint8Array, cidVersion: 0 | 1): Promise<CID> {
  const sink = {
    put: async (cid: CID, block: Uint8Array) => {
      const key = multihashKey(cid);
      await Deno.mkdir(`${dir}/blocks/${key.slice(-3, -1)}`, { recursive: true });
      await Deno.writeFile(`${dir}/blocks/${key.slice(-3, -1)}/${key}`, block);
      return cid;
    },
  };
  return (await importBytes(bytes, sink, importerOptions({ cidVersion }))).cid;
}

Deno.test("an old store (blocks keyed by hash alone) is upgraded: pinned DAGs read, plants do not", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Prepare: the old layout with a pinned two-chunk v1 file, a pinned v0 file, and an unpinned
    // raw upload whose bytes are a dag-pb node (what the old layout let anyone read as a node)
    await Deno.mkdir(`${dir}/pins`, { recursive: true });
    const big = randomBytes(300 * KIB, 3);
    const v1 = await writeLegacy(dir, big, 1);
    const v0 = await writeLegacy(dir, new TextEncoder().encode("hello world\n"), 0);
    const planted = dagPb.encode({ Data: new Uint8Array([8, 2]), Links: [] });
    const plantedRaw = await writeLegacy(dir, planted, 1);
    for (const pin of [v1, v0]) await Deno.writeFile(`${dir}/pins/${pin}`, new Uint8Array());
    // Execute
    const store = await openFsStore(dir, { sync: false });
    try {
      // Assert
      assert.deepEqual(await store.get(v1), big);
      assert.equal(new TextDecoder().decode(await store.get(v0)), "hello world\n");
      const plantedNode = MfCID.createV1(DAG_PB_CODE, plantedRaw.multihash);
      await assert.rejects(store.get(plantedNode), BlockNotFoundError);
      await assert.rejects(store.get(plantedRaw), BlockNotFoundError, "unpinned: collected");
      const names: string[] = [];
      for await (const shard of Deno.readDir(`${dir}/blocks`)) {
        for await (const e of Deno.readDir(`${dir}/blocks/${shard.name}`)) names.push(e.name);
      }
      assert.ok(names.every((n) => n.startsWith("b")), `old names left: ${names}`);
      assert.equal(names.length, 4); // v1: root + 2 leaves; v0: 1 node
      assert.equal(await Deno.readTextFile(`${dir}/LAYOUT`), "codec-keys\n");
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
