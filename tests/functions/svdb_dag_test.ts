/**
 * GET /svdb/<cid> from the attacker's side: 267 KB of uploads used to make one GET answer
 * 104,857,600 bytes (a raw upload read back as a dag-pb node linking a leaf 100 times, and
 * that node linked 4 times), built in memory whole. Now an upload is never a dag-pb node, a DAG
 * that does exist is refused before its first byte when it declares more than `maxFileBytes`,
 * and every file streams out block by block.
 */
import assert from "node:assert/strict";
import * as dagPb from "@ipld/dag-pb";
import { sha256 } from "multiformats/hashes/sha2";
import { CID, DAG_PB_CODE } from "../../lib/store/cid.ts";
import type { Store } from "../../lib/store/store.ts";
import { nodeUploadSigner } from "../../lib/store/upload_signature.ts";
import { postSigned, read, setupCoordinator } from "./_coordinator.ts";
import { randomBytes } from "../lib/_helpers.ts";

const KIB = 1024;

/** The bytes of a UnixFS file node linking `link` `n` times, each declaring `size` bytes. */
function repeatNode(link: CID, n: number, size: number): Uint8Array {
  const varint = (v: number) => {
    const out: number[] = [];
    for (; v >= 0x80; v = Math.floor(v / 128)) out.push((v % 128) | 0x80);
    return [...out, v];
  };
  const data = [0x08, 0x02, 0x18, ...varint(n * size)];
  for (let i = 0; i < n; i++) data.push(0x20, ...varint(size));
  return dagPb.encode({
    Data: new Uint8Array(data),
    Links: Array.from({ length: n }, () => ({ Hash: link, Tsize: size })),
  });
}

/** Fails with what a response served when its status is not `status`. */
async function expectStatus(res: Response, status: number): Promise<void> {
  if (res.status === status) return;
  const served = (await res.arrayBuffer()).byteLength;
  assert.fail(`answered ${res.status} with ${served} bytes, expected ${status}`);
}

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

Deno.test("svdb reads are bounded and streamed", async (t) => {
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario({ config: { maxFileBytes: 8 << 20 } });
  const attacker = nodeUploadSigner((await s.node()).key); // a registered node turned bad

  await t.step("267 KB of uploads cannot be read back as a 100 MiB file", async () => {
    // Prepare: the three uploads of the attack, each a plain raw upload
    const upload = async (bytes: Uint8Array) => {
      const res = await read(await postSigned(s, attacker, bytes));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return CID.parse(res.body.cid);
    };
    const leaf = await upload(randomBytes(256 * KIB, 1));
    const inner = await upload(repeatNode(leaf, 100, 256 * KIB));
    const innerNode = CID.createV1(DAG_PB_CODE, inner.multihash);
    const outer = await upload(repeatNode(innerNode, 4, 100 * 256 * KIB));
    const outerNode = CID.createV1(DAG_PB_CODE, outer.multihash);
    // Execute
    const res = await s.call(`/svdb/${outerNode}`);
    // Assert: those CIDs name nothing here (it was 200 with 104,857,600 bytes)
    await expectStatus(res, 404);
    assert.equal((await read(res)).body.error.code, "NOT_FOUND");
    await expectStatus(await s.call(`/svdb/${innerNode}`), 404);
  });

  await t.step(
    "a DAG declaring more than maxFileBytes is a 422 before any leaf is read",
    async () => {
      // Prepare: the same shape as dag-pb blocks, as a peer could deliver them (25 MiB declared)
      const leaf = await fx.store.put(randomBytes(256 * KIB, 2));
      const bytes = repeatNode(leaf, 100, 256 * KIB);
      const node = CID.createV1(DAG_PB_CODE, await sha256.digest(bytes));
      await fx.store.blockstore.put(node, bytes);
      const counter = countReads(fx.store);
      // Execute
      let res;
      try {
        const answer = await s.call(`/svdb/${node}`);
        await expectStatus(answer, 422);
        res = await read(answer);
      } finally {
        counter.restore();
      }
      // Assert
      assert.equal(res.body.error.code, "DAG_TOO_LARGE");
      assert.match(res.body.error.message, /declares 26214400 bytes, more than the 8388608/);
      assert.equal(counter.reads(), 1, "only the root was read");
    },
  );

  await t.step("a file streams out: the response starts after a few blocks", async () => {
    // Prepare: 30 chunks (7.5 MiB, under maxFileBytes)
    const bytes = randomBytes(30 * 256 * KIB, 3);
    const cid = await fx.store.put(bytes);
    const counter = countReads(fx.store);
    try {
      // Execute
      const res = await s.call(`/svdb/${cid}`);
      const before = counter.reads();
      const body = new Uint8Array(await res.arrayBuffer());
      // Assert: root, two leaves and a prefetch window of 16, not all 31 blocks up front
      assert.equal(res.status, 200);
      assert.ok(res.body instanceof ReadableStream);
      assert.ok(before <= 20, `${before} blocks read before the response`);
      assert.equal(res.headers.get("content-length"), String(bytes.length));
      assert.deepEqual(body, bytes);
      assert.equal(counter.reads(), 31);
    } finally {
      counter.restore();
    }
  });

  await t.step("a block that fails verification mid-file ends the stream short", async () => {
    // Prepare: corrupt the last leaf of a 3-chunk file
    const bytes = randomBytes(2 * 256 * KIB + 100, 4);
    const cid = await fx.store.put(bytes);
    const last = CID.createV1(0x55, await sha256.digest(bytes.subarray(2 * 256 * KIB)));
    await fx.store.blockstore.delete(last);
    await fx.store.blockstore.put(last, new Uint8Array(100));
    const log = console.error;
    console.error = () => {};
    try {
      // Execute
      const res = await s.call(`/svdb/${cid}`);
      // Assert: the verified part went out, the tampered block never did
      assert.equal(res.status, 200);
      await assert.rejects(res.arrayBuffer(), /tampered or truncated/);
    } finally {
      console.error = log;
    }
  });
});
