import assert from "node:assert/strict";
import { CID } from "multiformats/cid";
import * as Digest from "multiformats/hashes/digest";
import {
  CidMismatchError,
  computeCid,
  formatArthaUri,
  InvalidCidError,
  parseArthaUri,
  parseCid,
  RAW_CODE,
  verifyBlock,
} from "../../../lib/store/cid.ts";
import { randomBytes } from "../_helpers.ts";

const HELLO = new TextEncoder().encode("hello world\n");

Deno.test("computeCid with cidVersion 0 equals the CIDs `ipfs add` prints", async () => {
  // Execute
  const empty = await computeCid(new Uint8Array(), { cidVersion: 0 });
  const hello = await computeCid(HELLO, { cidVersion: 0 });
  // Assert: go-ipfs/kubo defaults (cid v0, dag-pb leaves, 256 KiB chunks, balanced 174)
  assert.equal(empty.toString(), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  assert.equal(hello.toString(), "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
});

Deno.test("computeCid v1 of a single chunk is the raw sha2-256 CID of the bytes", async () => {
  // Prepare
  const sha = new Uint8Array(await crypto.subtle.digest("SHA-256", HELLO));
  const expected = CID.createV1(RAW_CODE, Digest.create(0x12, sha));
  // Execute
  const cid = await computeCid(HELLO);
  // Assert
  assert.equal(cid.toString(), expected.toString());
  assert.equal(cid.toString(), "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
});

Deno.test("computeCid of a stream equals computeCid of the same bytes", async () => {
  // Prepare
  const bytes = randomBytes(600_000);
  async function* pieces() {
    for (let i = 0; i < bytes.length; i += 65_521) yield bytes.subarray(i, i + 65_521);
  }
  // Execute
  const fromStream = await computeCid(pieces());
  const fromBytes = await computeCid(bytes);
  // Assert
  assert.ok(fromStream.equals(fromBytes));
  assert.equal(fromBytes.code, 0x70); // 3 chunks -> dag-pb root
});

Deno.test("artha:// URIs round-trip and malformed input throws InvalidCidError", () => {
  // Prepare
  const text = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";
  // Execute
  const uri = formatArthaUri(text);
  // Assert
  assert.equal(uri, `artha://${text}`);
  assert.equal(parseArthaUri(uri).toString(), text);
  assert.equal(parseCid(uri).toString(), text);
  for (const bad of ["", "artha://", "artha://nope", "Qm123", "ipfs://" + text]) {
    assert.throws(
      () => parseArthaUri(bad),
      (e) => e instanceof InvalidCidError && e.code === "CID_INVALID",
      bad,
    );
  }
  assert.throws(() => parseCid("zzz"), InvalidCidError);
});

Deno.test("verifyBlock accepts matching bytes and rejects tampered or truncated ones", async () => {
  // Prepare
  const cid = await computeCid(HELLO);
  const tampered = HELLO.slice();
  tampered[0] = 0x48;
  // Execute / Assert
  await verifyBlock(cid, HELLO);
  await assert.rejects(
    verifyBlock(cid, tampered),
    (e) =>
      e instanceof CidMismatchError && e.code === "CID_MISMATCH" && e.expected === cid.toString(),
  );
  await assert.rejects(verifyBlock(cid, HELLO.subarray(0, 5)), CidMismatchError);
});
