/**
 * Reads are bounded whatever the blocks say: a raw upload is never a dag-pb node (the codec is
 * part of a block's key), and a dag-pb DAG that does exist (fetched from a peer, or written by a
 * buggy tool) is refused when it declares more than the limit, when its sizes do not add up,
 * when it fans out or nests too far, or when it needs too many blocks; walks visit each block
 * once however often it is linked.
 */
import assert from "node:assert/strict";
import * as dagPb from "@ipld/dag-pb";
import { sha256 } from "multiformats/hashes/sha2";
import { CID, computeCid, DAG_PB_CODE, RAW_CODE } from "../../../lib/store/cid.ts";
import { BlockNotFoundError, type Blockstore } from "../../../lib/store/blockstore.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";
import {
  DagTooLargeError,
  InvalidDagError,
  MAX_DAG_DEPTH,
  MAX_FILE_LINKS,
  openFsStore,
  Store,
} from "../../../lib/store/store.ts";
import { randomBytes } from "../_helpers.ts";

const KIB = 1024;

/** A protobuf varint. */
function varint(n: bigint): number[] {
  const out: number[] = [];
  do {
    const low = Number(n & 0x7fn);
    n >>= 7n;
    out.push(n > 0n ? low | 0x80 : low);
  } while (n > 0n);
  return out;
}

/** UnixFS file Data: type file, `filesize` as declared (default the sum), block sizes. */
function unixfsFile(sizes: bigint[], declared?: bigint): Uint8Array {
  const total = declared ?? sizes.reduce((a, b) => a + b, 0n);
  const bytes = [0x08, 0x02, 0x18, ...varint(total)];
  for (const s of sizes) bytes.push(0x20, ...varint(s));
  return new Uint8Array(bytes);
}

/** The bytes of a dag-pb file node linking `links` with the given declared sizes. */
function fileNode(links: CID[], sizes: bigint[], declared?: bigint): Uint8Array {
  return dagPb.encode({
    Data: unixfsFile(sizes, declared),
    Links: links.map((Hash, i) => ({ Hash, Tsize: Number(sizes[i]) })),
  });
}

async function cidOf(code: number, bytes: Uint8Array): Promise<CID> {
  return CID.createV1(code, await sha256.digest(bytes));
}

/** Stores a block as a peer would deliver it: under its real codec. */
async function placeNode(store: Store, bytes: Uint8Array): Promise<CID> {
  const cid = await cidOf(DAG_PB_CODE, bytes);
  await store.blockstore.put(cid, bytes);
  return cid;
}

/** Counts the blocks a backend hands out. */
function counting(blockstore: Blockstore): { store: Store; reads: () => number } {
  let reads = 0;
  const get = blockstore.get.bind(blockstore);
  blockstore.get = (cid) => {
    reads++;
    return get(cid);
  };
  return { store: new Store(blockstore), reads: () => reads };
}

Deno.test("a raw upload is never read back as a dag-pb node (the 267 KB -> 100 MiB attack)", async () => {
  // Prepare: what an uploader can store: raw files only. A 256 KiB leaf, a "node" linking it
  // 100 times, and a "node" linking that one 4 times, each uploaded as plain bytes.
  const store = new Store(new MemoryBlockstore());
  const leaf = await store.put(randomBytes(256 * KIB, 1), { pin: false });
  const inner = fileNode(Array(100).fill(leaf), Array(100).fill(BigInt(256 * KIB)));
  const innerRaw = await store.put(inner, { pin: false });
  const innerAsNode = CID.createV1(DAG_PB_CODE, innerRaw.multihash);
  const outer = fileNode(Array(4).fill(innerAsNode), Array(4).fill(BigInt(100 * 256 * KIB)));
  const outerRaw = await store.put(outer, { pin: false });
  const outerAsNode = CID.createV1(DAG_PB_CODE, outerRaw.multihash);
  // Execute / Assert: the same hashes under the dag-pb codec name nothing stored
  assert.equal(innerRaw.code, RAW_CODE);
  assert.deepEqual(await store.get(outerRaw), outer, "the upload reads back as what it is");
  await assert.rejects(store.get(outerAsNode), BlockNotFoundError);
  await assert.rejects(store.getBlock(innerAsNode), BlockNotFoundError);
  assert.equal(await store.has(outerAsNode), false);
  // CIDv0 names the same dag-pb block as CIDv1 dag-pb: still nothing
  await assert.rejects(store.get(outerAsNode.toV0()), BlockNotFoundError);
});

Deno.test("the filesystem store keys blocks by codec too, and v0/v1 of a node share one", async () => {
  const dir = await Deno.makeTempDir();
  const store = await openFsStore(dir, { sync: false });
  try {
    // Prepare
    const node = fileNode([], []);
    const raw = await store.put(node, { pin: false }); // an upload of a node's bytes
    const big = randomBytes(300 * KIB, 2);
    const v0 = await store.put(big, { cidVersion: 0 });
    // Execute / Assert
    await assert.rejects(store.get(CID.createV1(DAG_PB_CODE, raw.multihash)), BlockNotFoundError);
    assert.deepEqual(await store.get(v0.toV1()), big, "CIDv1 of a v0 DAG reads it");
    const names: string[] = [];
    for await (const c of store.blockstore.blocks()) names.push(c.toString());
    assert.ok(names.includes(v0.toV1().toString()) && names.includes(raw.toString()));
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a DAG declaring more than maxBytes is refused after reading only its root", async () => {
  // Prepare: one 4 KiB leaf linked 100 times: 400 KiB declared, 4 KiB stored
  const { store, reads } = counting(new MemoryBlockstore());
  const leaf = await store.put(randomBytes(4 * KIB, 3));
  const root = await placeNode(store, fileNode(Array(100).fill(leaf), Array(100).fill(4096n)));
  // Execute / Assert: repeated links count fully toward the size
  await assert.rejects(
    store.get(root, { maxBytes: 100 * KIB }),
    (e) => e instanceof DagTooLargeError && e.code === "DAG_TOO_LARGE" && e.size === 409_600n,
  );
  assert.equal(reads(), 1, "only the root was read");
  // within the limits (bytes, and blocks: 101 of 4 KiB) it is a file
  const whole = await store.get(root, { maxBytes: 1 << 20, maxBlocks: 101 });
  assert.equal(whole.length, 409_600);
  await assert.rejects(
    new Store(store.blockstore, { maxFileBytes: 100 * KIB }).get(root),
    DagTooLargeError,
    "the store's own default limit applies too",
  );
});

Deno.test("declared sizes must add up before any child is read", async () => {
  const { store, reads } = counting(new MemoryBlockstore());
  const leaf = await store.put(randomBytes(1000, 4));
  // filesize says 10 GB, block sizes say 1000
  const lying = await placeNode(store, fileNode([leaf], [1000n], 10_000_000_000n));
  await assert.rejects(
    store.get(lying),
    (e) => e instanceof InvalidDagError && /declares/.test(e.message),
  );
  assert.equal(reads(), 1);
  // a link declaring another size than its child holds
  const wrongChild = await placeNode(store, fileNode([leaf, leaf], [1000n, 2000n]));
  await assert.rejects(store.get(wrongChild), /link 1 declares 2000 bytes/);
  // links without block sizes
  const noSizes = await placeNode(
    store,
    dagPb.encode({ Data: unixfsFile([], 2000n), Links: [{ Hash: leaf }, { Hash: leaf }] }),
  );
  await assert.rejects(store.get(noSizes), /2 links but 0 block sizes/);
});

Deno.test("fan-out, depth and the number of blocks read are bounded", async () => {
  const store = new Store(new MemoryBlockstore());
  const byte = await store.put(new Uint8Array([7]));
  // Fan-out: more links than any IPFS importer writes
  const n = MAX_FILE_LINKS + 1;
  const wide = await placeNode(store, fileNode(Array(n).fill(byte), Array(n).fill(1n)));
  await assert.rejects(store.get(wide), /more than 1024/);
  // Depth: a chain of nodes each holding the one byte below it
  let deep = byte;
  for (let i = 0; i <= MAX_DAG_DEPTH; i++) deep = await placeNode(store, fileNode([deep], [1n]));
  await assert.rejects(
    store.get(deep),
    (e) => e instanceof InvalidDagError && /deeper/.test(e.message),
  );
  // Blocks: 2 levels of 1000 links to one byte declare only a million bytes, but would cost a
  // million block reads; a 1 MiB read may fetch at most 2*4+64 = 72 blocks
  const level = await placeNode(store, fileNode(Array(1000).fill(byte), Array(1000).fill(1n)));
  const top = await placeNode(store, fileNode(Array(1000).fill(level), Array(1000).fill(1000n)));
  await assert.rejects(store.get(top, { maxBytes: 1 << 20 }), /more than 72 blocks/);
  assert.equal((await store.get(level, { maxBlocks: 1001 })).length, 1000);
});

Deno.test("cat streams block by block: the first bytes come before the rest is read", async () => {
  // Prepare: 40 chunks
  const { store, reads } = counting(new MemoryBlockstore());
  const bytes = randomBytes(40 * 256 * KIB, 5);
  const cid = await store.put(bytes);
  // Execute
  const file = await store.open(cid);
  const first = await file.chunks.next();
  const readsAtFirst = reads();
  await file.chunks.return(undefined);
  // Assert: the root, the first leaf and a prefetch window of 16, not all 41 blocks
  assert.equal(file.size, bytes.length);
  assert.deepEqual(first.value, bytes.subarray(0, 256 * KIB));
  assert.ok(readsAtFirst <= 1 + 1 + 16, `read ${readsAtFirst} blocks before the first chunk`);
  assert.ok(cid.equals(await computeCid(bytes)));
});

Deno.test("pin and has visit a block linked many times once", async () => {
  // Prepare: 4 x 100 links to one leaf (the amplification DAG, as dag-pb nodes)
  const { store, reads } = counting(new MemoryBlockstore());
  const leaf = await store.put(randomBytes(1000, 6));
  const inner = await placeNode(store, fileNode(Array(100).fill(leaf), Array(100).fill(1000n)));
  const outer = await placeNode(store, fileNode(Array(4).fill(inner), Array(4).fill(100_000n)));
  // Execute
  const before = reads();
  await store.pin(outer);
  assert.equal(await store.has(outer), true);
  // Assert: outer and inner once each per walk (leaves are only checked for presence)
  assert.ok(reads() - before <= 4, `read ${reads() - before} blocks`);
});
