import assert from "node:assert/strict";
import { CID } from "multiformats/cid";
import { identity } from "multiformats/hashes/identity";
import { computeCid } from "../../lib/store/cid.ts";
import type { FsBlockstore } from "../../lib/store/fs_blockstore.ts";

const identityDigest = (bytes: Uint8Array) => identity.digest(bytes);

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walk(path);
    else if (e.isFile) yield path;
  }
}
import { nodeUploadSigner } from "../../lib/store/upload_signature.ts";
import { postSigned, read, setupCoordinator } from "./_coordinator.ts";

Deno.test("svdb", async (t) => {
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario({ config: { maxBlobBytes: 300_000 } });
  const bytes = new Uint8Array(200_000).map((_, i) => (i * 7919) & 0xff); // several blocks
  const node = nodeUploadSigner((await s.node()).key); // a registered worker uploads

  let cid = "";
  await t.step("a signed POST stores bytes, answers their IPFS CID and leases them", async () => {
    const res = await read(await postSigned(s, node, bytes));
    assert.equal(res.status, 201);
    assert.equal(res.body.bytes, bytes.length);
    cid = res.body.cid;
    assert.equal(cid, (await computeCid(bytes)).toString());
    assert.ok(await fx.store.has(cid));
    assert.ok(!(await fx.store.pins()).some((p) => p.toString() === cid), "leased, not pinned");
    const lease = (await fx.store.leases()).find((l) => l.cid.toString() === cid);
    assert.equal(lease?.expiresAt, res.body.leaseExpiresAt);
    assert.ok(res.body.leaseExpiresAt >= s.ctx.now() + s.ctx.config.uploadLeaseMs - 60_000);
  });

  await t.step("GET /svdb/<cid> returns the same bytes", async () => {
    const res = await s.call(`/svdb/${cid}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
    assert.equal(res.headers.get("x-artha-cid"), cid);
    assert.equal(res.headers.get("content-length"), String(bytes.length));
    // Anyone's bytes on the node key's origin: never sniffed into a script, sandboxed if shown
    // (found in the browser audit).
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("content-security-policy"), "sandbox; default-src 'none'");
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
    const raw = await s.call(`/svdb/${cid}?format=raw`);
    assert.equal(raw.headers.get("x-content-type-options"), "nosniff");
    await raw.body?.cancel();
    const slash = await s.call(`/svdb/${cid}/`);
    assert.equal(slash.status, 200);
    await slash.body?.cancel();
  });

  await t.step("storing the same bytes again gives the same CID", async () => {
    const res = await read(await postSigned(s, node, bytes));
    assert.equal(res.status, 201);
    assert.equal(res.body.cid, cid);
  });

  await t.step("a CID not in the store is a 404, a malformed one a 400", async () => {
    const absent = (await computeCid(new Uint8Array([9, 9, 9]))).toString();
    const missing = await read(await s.call(`/svdb/${absent}`));
    assert.equal(missing.status, 404);
    assert.match(missing.body.error.message, /not in this store/);
    const bad = await read(await s.call("/svdb/not-a-cid"));
    assert.equal(bad.status, 400);
  });

  await t.step(
    "valid CIDs this gateway does not serve are a 400 naming codec and hash",
    async () => {
      // dag-cbor (0x71) and an identity multihash: both parse, neither is ours (they were a 500).
      const dagCbor = CID.createV1(0x71, (await computeCid(new Uint8Array([1]))).multihash);
      const identity = CID.createV1(0x55, identityDigest(new Uint8Array([1, 2, 3])));
      for (const other of [dagCbor, identity]) {
        const res = await read(await s.call(`/svdb/${other}`));
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.equal(res.body.error.code, "UNSUPPORTED_CID");
        assert.match(res.body.error.message, /codec 0x/);
      }
    },
  );

  await t.step("a stored block that no longer hashes to its CID is refused by name", async () => {
    const small = new TextEncoder().encode("a small blob");
    const put = await read(await postSigned(s, node, small));
    const root = (fx.store.blockstore as FsBlockstore).root;
    let tampered = 0;
    for await (const file of walk(`${root}/blocks`)) {
      if ((await Deno.readFile(file)).length === small.length) {
        await Deno.writeFile(file, new TextEncoder().encode("A small blob"));
        tampered++;
      }
    }
    assert.equal(tampered, 1);
    const res = await read(await s.call(`/svdb/${put.body.cid}`));
    assert.equal(res.status, 500);
    assert.equal(res.body.error.code, "BLOCK_CORRUPT");
    assert.match(res.body.error.message, /tampered or truncated/);
  });

  await t.step("an empty body is a 400; a body over maxBlobBytes a 413", async () => {
    const empty = await read(await postSigned(s, node, new Uint8Array(0)));
    assert.equal(empty.status, 400);
    assert.match(empty.body.error.message, /empty/);
    const big = await read(await postSigned(s, node, new Uint8Array(300_001)));
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, "PAYLOAD_TOO_LARGE");
    const declared = await read(
      await postSigned(s, node, new Uint8Array(10), {
        headers: { "content-length": "999999999" },
      }),
    );
    assert.equal(declared.status, 413);
  });

  await t.step("other methods are a 405", async () => {
    for (const method of ["PUT", "DELETE"]) {
      const res = await read(await s.call(`/svdb/${cid}`, { method }));
      assert.equal(res.status, 405);
    }
  });
});
