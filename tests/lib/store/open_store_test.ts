import assert from "node:assert/strict";
import { FsBlockstore } from "../../../lib/store/fs_blockstore.ts";
import { KvBlockstore } from "../../../lib/store/kv_blockstore.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";
import { isStoreKind, openStore, type StoreKind } from "../../../lib/store/open_store.ts";

Deno.test("openStore opens the backend the configuration names", async () => {
  // Prepare
  const dir = await Deno.makeTempDir({ prefix: "artha-open-store-" });
  const shared = await Deno.openKv(":memory:");
  try {
    // Execute
    const fs = await openStore({ kind: "fs", dir: `${dir}/svdb`, sync: false });
    const owned = await openStore({ kind: "kv", kv: `${dir}/svdb.kv` });
    const inShared = await openStore({ kind: "kv", kv: shared, prefix: ["blocks"] });
    const memory = await openStore({ kind: "memory" });
    const cids = [];
    for (const store of [fs, owned, inShared, memory]) {
      cids.push((await store.put(new TextEncoder().encode("same bytes"))).toString());
      await store.close();
    }
    // Assert
    assert.ok(fs.blockstore instanceof FsBlockstore);
    assert.ok(owned.blockstore instanceof KvBlockstore);
    assert.ok(memory.blockstore instanceof MemoryBlockstore);
    assert.equal(new Set(cids).size, 1, "one CID whatever the backend");
    const entries = await Array.fromAsync(shared.list({ prefix: ["blocks", "block"] }));
    assert.equal(entries.length, 1, "the shared database stays open, under the prefix given");
    assert.ok(isStoreKind("fs") && isStoreKind("memory") && !isStoreKind("FS"));
    await assert.rejects(openStore({ kind: "fs" }), TypeError);
    await assert.rejects(openStore({ kind: "s3" as StoreKind }), RangeError);
  } finally {
    shared.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "openStore helia: a directory store inside an IPFS peer; a second peer fetches from it",
  // libp2p keeps timers and sockets a moment past stop().
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Prepare
    const dir = await Deno.makeTempDir({ prefix: "artha-open-helia-" });
    const first = await openStore({ kind: "helia", dir: `${dir}/a`, sync: false });
    try {
      const bytes = new Uint8Array(300 * 1024).map((_, i) => (i * 31) % 251);
      const cid = await first.put(bytes);
      // The peer's addresses (Helia's light type hides libp2p; createHeliaPeer's node has it).
      const helia = (first.blockstore as unknown as {
        helia: { libp2p: { getMultiaddrs(): { toString(): string }[] } };
      }).helia;
      const address = helia.libp2p.getMultiaddrs()[0]!.toString();
      // Execute: a second store told to dial the first finds the blocks over bitswap.
      const second = await openStore({ kind: "helia", dir: `${dir}/b`, peers: [address] });
      try {
        const got = await second.get(cid);
        // Assert
        assert.deepEqual(got, bytes);
        assert.ok((await Array.fromAsync(Deno.readDir(`${dir}/a`))).length > 0, "kept on disk");
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
