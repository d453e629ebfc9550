/**
 * Bodies without Content-Length (chunked) are counted while they stream: every route that reads
 * a body refuses it with 413 as soon as it passes the limit, having pulled at most one chunk past
 * it, instead of buffering the whole body first.
 */
import assert from "node:assert/strict";
import { MAX_BODY_BYTES } from "../../functions/_http.ts";
import { MAX_INFER_BODY } from "../../lib/coordinator/models.ts";
import { accountUploadSigner, signUpload, uploadDomain } from "../../lib/store/upload_signature.ts";
import { setupCoordinator } from "./_coordinator.ts";

const CHUNK = 64 * 1024;

/** A chunked body of twice `limit` (plus a little) that counts what the server pulled. */
function oversized(limit: number): { body: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const chunk = new Uint8Array(CHUNK).fill(0x7b);
  const total = 2 * limit + 8 * CHUNK;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled >= total) return controller.close();
      pulled += CHUNK;
      controller.enqueue(chunk);
    },
  });
  return { body, pulled: () => pulled };
}

Deno.test("chunked bodies past the limit get 413 while streaming, on every body route", async () => {
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario();
  const routes: [string, string, number][] = [
    ["/svdb", "application/octet-stream", s.ctx.config.maxBlobBytes],
    ["/register", "application/json", MAX_BODY_BYTES],
    ["/rpc", "application/json", MAX_INFER_BODY],
    ["/v1/completions", "application/json", MAX_INFER_BODY],
    ["/ai/infer", "application/json", MAX_INFER_BODY],
    ["/aggregate/update", "application/json", MAX_BODY_BYTES],
  ];
  for (const [path, type, limit] of routes) {
    // Prepare: /svdb reads only a signed body (the hash is never reached: 413 comes first)
    const { body, pulled } = oversized(limit);
    const { chainId, addresses } = s.ctx.chain;
    const signed = path !== "/svdb" ? {} : await signUpload(
      accountUploadSigner(fx.coordinator),
      uploadDomain(chainId, addresses.registry),
      new Uint8Array(),
    );
    // Execute
    const res = await s.route(
      new Request(`http://coordinator${path}`, {
        method: "POST",
        headers: { "content-type": type, ...signed },
        body,
      }),
    );
    // Assert
    const text = await res.text();
    assert.equal(res.status, 413, `${path}: ${text}`);
    assert.match(text, /larger than/);
    assert.ok(pulled() <= limit + 2 * CHUNK, `${path} pulled ${pulled()} for a ${limit} limit`);
  }
});
