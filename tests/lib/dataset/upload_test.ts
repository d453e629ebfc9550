import assert from "node:assert/strict";
import { computeCid } from "../../../lib/store/cid.ts";
import { uploadToGateway } from "../../../lib/dataset/upload.ts";

/** A coordinator's POST /svdb on a free port: answers the bytes' CID, or `lie` instead. */
function fakeGateway(lie?: string) {
  const received: Uint8Array[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const bytes = new Uint8Array(await req.arrayBuffer());
    received.push(bytes);
    return Response.json({ cid: lie ?? (await computeCid(bytes)).toString() }, { status: 201 });
  });
  return { server, received, url: `http://127.0.0.1:${server.addr.port}` };
}

Deno.test("uploadToGateway posts the bytes and checks the CID it gets back", async () => {
  // Prepare
  const honest = fakeGateway();
  const liar = fakeGateway((await computeCid(new Uint8Array([9]))).toString());
  const bytes = new TextEncoder().encode("ciphertext");
  try {
    // Execute
    const cid = await uploadToGateway(honest.url)(bytes);
    // Assert
    assert.equal(cid, (await computeCid(bytes)).toString());
    assert.deepEqual(honest.received, [bytes]);
    await assert.rejects(uploadToGateway(liar.url)(bytes), /Cannot trust/);
  } finally {
    await honest.server.shutdown();
    await liar.server.shutdown();
  }
});
