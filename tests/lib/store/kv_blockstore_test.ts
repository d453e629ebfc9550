/**
 * The Deno KV backend beyond the behaviours every store shares (those run in store_test.ts):
 * files and blocks larger than one KV value, torn writes, concurrent writers of one block, gc
 * with pins and leases, and the lock shared by every isolate that opens the database.
 */
import assert from "node:assert/strict";
import { sha256 } from "multiformats/hashes/sha2";
import { CID, computeCid, RAW_CODE } from "../../../lib/store/cid.ts";
import { BlockNotFoundError } from "../../../lib/store/blockstore.ts";
import { collectGarbage } from "../../../lib/store/collect_garbage.ts";
import {
  CHUNKS_PER_COMMIT,
  KV_CHUNK_BYTES,
  KvBlockstore,
} from "../../../lib/store/kv_blockstore.ts";
import { MAX_BLOCK_BYTES, Store } from "../../../lib/store/store.ts";
import { randomBytes } from "../_helpers.ts";

const KIB = 1024;
const MIB = 1024 * KIB;

async function rawCid(bytes: Uint8Array): Promise<CID> {
  return CID.createV1(RAW_CODE, await sha256.digest(bytes));
}

/** The KV entries under `svdb, <part>`. */
async function entries(kv: Deno.Kv, part: string): Promise<Deno.KvEntry<unknown>[]> {
  return await Array.fromAsync(kv.list({ prefix: ["svdb", part] }));
}

/**
 * `kv` whose atomic commits first run `before(n)` (n counts from 0): it may throw, as a writer
 * that dies there would, or act, as another isolate would meanwhile.
 */
function beforeCommits(kv: Deno.Kv, before: (n: number) => void | Promise<void>): Deno.Kv {
  let n = 0;
  const wrapOp = (op: Deno.AtomicOperation): Deno.AtomicOperation => {
    const proxy: Deno.AtomicOperation = new Proxy(op, {
      get(target, name) {
        if (name === "commit") {
          return async () => {
            await before(n++);
            return await target.commit();
          };
        }
        const value = Reflect.get(target, name);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          const out = value.apply(target, args);
          return out === target ? proxy : out;
        };
      },
    });
    return proxy;
  };
  return new Proxy(kv, {
    get(target, name) {
      if (name === "atomic") return () => wrapOp(target.atomic());
      const value = Reflect.get(target, name);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A temp dir with a KV file two handles can open, as two isolates would. */
async function withKvFile(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "artha-kv-store-" });
  try {
    await fn(`${dir}/svdb.kv`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a 1 MiB file round-trips with its IPFS CID, no KV value over 64 KiB", async () => {
  // Prepare
  await using kv = await Deno.openKv(":memory:");
  const store = new Store(new KvBlockstore(kv));
  const bytes = randomBytes(MIB, 41);
  // Execute
  const cid = await store.put(bytes);
  const back = await store.get(cid);
  // Assert
  assert.ok(cid.equals(await computeCid(bytes)));
  assert.equal(cid.toString(), (await computeCid(bytes)).toString());
  assert.deepEqual(back, bytes);
  const chunks = await entries(kv, "chunk");
  assert.equal(chunks.length, 4 * 4 + 1); // four 256 KiB leaves in four values each, the root
  assert.ok(chunks.every((e) => (e.value as Uint8Array).length <= KV_CHUNK_BYTES));
  assert.equal((await entries(kv, "block")).length, 5);
  assert.deepEqual(await entries(kv, "pending"), []);
});

Deno.test("blocks larger than one value and than one commit read back whole", async () => {
  await using kv = await Deno.openKv(":memory:");
  const blocks = new KvBlockstore(kv);
  const store = new Store(blocks);
  const sizes = [0, 1, KV_CHUNK_BYTES, KV_CHUNK_BYTES + 1, 256 * KIB, MIB, MAX_BLOCK_BYTES];
  for (const size of sizes) {
    // Prepare
    const bytes = randomBytes(size, size + 7);
    const cid = await rawCid(bytes);
    // Execute
    await blocks.put(cid, bytes);
    // Assert
    assert.deepEqual(await store.getBlock(cid), bytes, `${size}`);
    assert.ok(await blocks.has(cid));
  }
  assert.ok(Math.ceil(MIB / KV_CHUNK_BYTES) > CHUNKS_PER_COMMIT, "1 MiB takes several commits");
  assert.deepEqual(await entries(kv, "pending"), []);
  const chunkCount = sizes.reduce((n, s) => n + Math.ceil(s / KV_CHUNK_BYTES), 0);
  assert.equal((await entries(kv, "chunk")).length, chunkCount);
  const tooBig = randomBytes(MAX_BLOCK_BYTES + 1, 3);
  await assert.rejects(blocks.put(await rawCid(tooBig), tooBig), RangeError);
});

Deno.test("a damaged chunk is refused, a deleted one reads as missing", async () => {
  // Prepare
  await using kv = await Deno.openKv(":memory:");
  const blocks = new KvBlockstore(kv);
  const bytes = randomBytes(200 * KIB, 5);
  const cid = await rawCid(bytes);
  await blocks.put(cid, bytes);
  const [first] = await entries(kv, "chunk");
  const damaged = (first!.value as Uint8Array).slice();
  damaged[9]! ^= 1;
  // Execute / Assert
  await kv.set(first!.key, damaged);
  await assert.rejects(blocks.get(cid), (e) => (e as { code?: string }).code === "CID_MISMATCH");
  await kv.delete(first!.key);
  await assert.rejects(blocks.get(cid), BlockNotFoundError);
});

for (const crashAt of [1, 2]) {
  const where = crashAt === 1 ? "between chunk commits" : "before the head";
  Deno.test(`a write torn ${where} is never served and gc collects it`, async () => {
    // Prepare: a 1 MiB block takes two chunk commits then the head's; the writer dies at one
    await using kv = await Deno.openKv(":memory:");
    const bytes = randomBytes(MIB, 17);
    const cid = await rawCid(bytes);
    const dying = new KvBlockstore(beforeCommits(kv, (n) => {
      if (n >= crashAt) throw new Error("writer died");
    }));
    await assert.rejects(dying.put(cid, bytes), /writer died/);
    const blocks = new KvBlockstore(kv);
    const store = new Store(blocks);
    // Execute / Assert: nothing is served
    assert.equal(await blocks.has(cid), false);
    await assert.rejects(blocks.get(cid), BlockNotFoundError);
    assert.deepEqual(await Array.fromAsync(blocks.blocks()), []);
    const written = Math.min(crashAt * CHUNKS_PER_COMMIT, MIB / KV_CHUNK_BYTES);
    assert.equal((await entries(kv, "chunk")).length, written);
    // a fresh leftover is spared (its writer may be alive), an old one collected
    assert.deepEqual(await store.gc(), { removed: 0, kept: 0, expired: 0 });
    assert.equal((await entries(kv, "chunk")).length, written);
    const [pending] = await entries(kv, "pending");
    await kv.set(pending!.key, { ...pending!.value as object, startedAt: 0 });
    await store.gc();
    assert.deepEqual(await entries(kv, "chunk"), []);
    assert.deepEqual(await entries(kv, "pending"), []);
    // the block can be written again
    await blocks.put(cid, bytes);
    assert.deepEqual(await store.getBlock(cid), bytes);
  });
}

Deno.test("a writer whose unfinished chunks gc reaped writes again, never a head alone", async () => {
  // Prepare: just before the writer publishes, another isolate's gc takes it for abandoned
  await using kv = await Deno.openKv(":memory:");
  const reaper = new KvBlockstore(kv);
  let reaped = 0;
  const slow = new KvBlockstore(beforeCommits(kv, async (n) => {
    if (n === 2) reaped += await reaper.removeTemporary(0);
  }));
  const bytes = randomBytes(MIB, 23);
  const cid = await rawCid(bytes);
  // Execute
  await slow.put(cid, bytes);
  // Assert
  assert.equal(reaped, 1);
  assert.deepEqual(await new Store(reaper).getBlock(cid), bytes);
  assert.equal((await entries(kv, "chunk")).length, MIB / KV_CHUNK_BYTES);
  assert.deepEqual(await entries(kv, "pending"), []);
});

// Two stores over one handle stand for two isolates: what keeps them apart is the same atomic
// checks either way, and the local (SQLite) backend answers "database is locked" to writers on
// two handles of one file where Deno Deploy's would not.
Deno.test("concurrent puts of one block leave one copy; the losers drop their chunks", async () => {
  // Prepare
  await using kv = await Deno.openKv(":memory:");
  let commits = 0;
  const writers = [1, 2, 3].map(() => new KvBlockstore(beforeCommits(kv, () => void commits++)));
  for (const size of [256 * KIB, MIB]) {
    const bytes = randomBytes(size, size);
    const cid = await rawCid(bytes);
    commits = 0;
    // Execute
    await Promise.all(writers.map((w) => w.put(cid, bytes)));
    // Assert
    assert.deepEqual(await new Store(new KvBlockstore(kv)).getBlock(cid), bytes, `${size}`);
    const perWriter = size === MIB ? 3 : 1; // chunk commits and head
    assert.ok(commits >= 3 * perWriter, `${size}: all three raced (${commits} commits)`);
  }
  const chunks = await entries(kv, "chunk");
  assert.equal(chunks.length, (256 * KIB + MIB) / KV_CHUNK_BYTES, "one copy of each");
  assert.equal((await entries(kv, "block")).length, 2);
  assert.deepEqual(await entries(kv, "pending"), []);
});

Deno.test("gc keeps what pins and live leases reach, drops the rest with its chunks", async () => {
  await withKvFile(async (path) => {
    // Prepare: a pinned and a leased file sharing their first leaf, and a leased stray
    const store = new Store(await KvBlockstore.open(path));
    const shared = randomBytes(256 * KIB, 1);
    const pinned = await store.put(new Uint8Array([...shared, 1, 2, 3]));
    const leased = await store.put(new Uint8Array([...shared, 4, 5]), {
      pin: false,
      leaseUntil: 1_000,
    });
    const stray = await store.put(randomBytes(10 * KIB, 2), { pin: false, leaseUntil: 500 });
    await store.lease(leased, 900); // earlier: ignored
    await store.close();
    const reopened = new Store(await KvBlockstore.open(path));
    try {
      // Execute / Assert
      const leases = (await reopened.leases()).map((l) => [l.cid.toString(), l.expiresAt]);
      assert.deepEqual(
        leases.sort(),
        [[leased.toString(), 1_000], [stray.toString(), 500]].sort(),
      );
      assert.deepEqual(await collectGarbage(reopened, 499), { removed: 0, kept: 6, expired: 0 });
      assert.deepEqual(await collectGarbage(reopened, 500), { removed: 1, kept: 5, expired: 1 });
      assert.equal(await reopened.has(stray), false);
      assert.deepEqual(await collectGarbage(reopened, 1_000), { removed: 2, kept: 3, expired: 1 });
      assert.equal(await reopened.has(leased), false);
      assert.equal(await reopened.has(pinned), true, "the shared leaf stayed with the pin");
      await reopened.unpin(pinned);
      assert.deepEqual(await reopened.gc(), { removed: 3, kept: 0, expired: 0 });
      const kv = (reopened.blockstore as KvBlockstore).kv;
      for (const part of ["block", "chunk", "pending", "pin", "lease"]) {
        assert.deepEqual(await entries(kv, part), [], `${part} left`);
      }
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("gc in one store waits for a put holding the lock in another", async () => {
  // Prepare: two stores over one database, as two isolates (their in-process locks are apart);
  // the put's blocks are all written, its root not yet pinned, for 300 ms; a 90 ms lock TTL
  // shows the holder renews its entry while it runs
  await using kv = await Deno.openKv(":memory:");
  const writer = new KvBlockstore(kv, { lockTtlMs: 90 });
  const collector = new Store(new KvBlockstore(kv));
  const putPin = writer.putPin.bind(writer);
  let pinning!: () => void;
  const reachedPin = new Promise<void>((resolve) => (pinning = resolve));
  writer.putPin = async (cid) => {
    pinning();
    await new Promise((r) => setTimeout(r, 300));
    await putPin(cid);
  };
  const order: string[] = [];
  // Execute
  const put = new Store(writer).put(randomBytes(600 * KIB, 9)).then((cid) => {
    order.push("put");
    return cid;
  });
  await reachedPin;
  const gc = await collector.gc();
  order.push("gc");
  const cid = await put;
  // Assert
  assert.deepEqual(order, ["put", "gc"]);
  assert.deepEqual(gc, { removed: 0, kept: 4, expired: 0 });
  assert.equal((await collector.get(cid)).length, 600 * KIB);
  assert.deepEqual(await entries(kv, "lock"), [], "every holder left");
});

Deno.test("a lock left by a crashed isolate stops no one past its expiry", async () => {
  // Prepare: a dead exclusive claim and a dead shared holder, both expired
  await using kv = await Deno.openKv(":memory:");
  await kv.set(["svdb", "lock", "exclusive"], { expiresAt: Date.now() - 1 });
  await kv.set(["svdb", "lock", "shared", "dead"], { expiresAt: Date.now() - 1 });
  const store = new Store(new KvBlockstore(kv));
  // Execute
  const cid = await store.put(randomBytes(KIB, 3), { pin: false });
  const gc = await store.gc();
  // Assert
  assert.deepEqual(gc, { removed: 1, kept: 0, expired: 0 });
  assert.equal(await store.has(cid), false);
  assert.deepEqual(await entries(kv, "lock"), []);
});
