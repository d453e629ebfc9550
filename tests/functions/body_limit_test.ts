/**
 * Bodies past the limit are refused with 413 and a JSON message on every route that reads a body
 * (each route of functions/router.ts that takes a POST): a declared Content-Length is refused
 * before the body is read, and a body without one (chunked) is counted while it streams, so the
 * server pulls at most a chunk or two past the limit instead of buffering the whole body first.
 */
import assert from "node:assert/strict";
import { MAX_BODY_BYTES } from "../../functions/_http.ts";
import { MAX_INFER_BODY } from "../../lib/coordinator/models.ts";
import { accountUploadSigner, signUpload, uploadDomain } from "../../lib/store/upload_signature.ts";
import { type Scenario, setupCoordinator } from "./_coordinator.ts";

const CHUNK = 64 * 1024;

/** A body of twice `limit` (plus a little) that counts what the server pulled. */
function oversized(limit: number) {
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
  return { body, total, pulled: () => pulled };
}

/** Every route that takes a body: path, content type, limit. */
function bodyRoutes(s: Scenario): [string, string, number][] {
  const json = "application/json";
  return [
    ["/svdb", "application/octet-stream", s.ctx.config.maxBlobBytes],
    ["/register", json, MAX_BODY_BYTES],
    ["/assign", json, MAX_BODY_BYTES],
    ["/aggregate", json, MAX_BODY_BYTES],
    ["/aggregate/update", json, MAX_BODY_BYTES],
    ["/aggregate/cluster", json, MAX_BODY_BYTES],
    ["/secagg", json, MAX_BODY_BYTES],
    ["/finalize", json, MAX_BODY_BYTES],
    ["/rpc", json, MAX_INFER_BODY],
    ["/v1/completions", json, MAX_INFER_BODY],
    ["/ai/infer", json, MAX_INFER_BODY],
    ["/did/grant", json, MAX_BODY_BYTES],
    ["/did/grant/prepare", json, MAX_BODY_BYTES],
  ];
}

/** POSTs an oversized body to `path`, chunked or with its Content-Length declared. */
async function postOversized(
  s: Scenario,
  signer: () => Promise<Record<string, string>>,
  [path, type, limit]: [string, string, number],
  declared: boolean,
) {
  const big = oversized(limit);
  // /svdb reads only a signed body (the hash is never reached: 413 comes first)
  const signed = path === "/svdb" ? await signer() : {};
  const length: Record<string, string> = declared ? { "content-length": String(big.total) } : {};
  const res = await s.route(
    new Request(`http://coordinator${path}`, {
      method: "POST",
      headers: { "content-type": type, ...signed, ...length },
      body: big.body,
    }),
  );
  const text = await res.text();
  return { status: res.status, text, pulled: big.pulled() };
}

/** The `message` of an error body (ours, OpenAI's or JSON-RPC's all nest it under `error`). */
function messageOf(text: string): string {
  const body = JSON.parse(text);
  assert.equal(typeof body.error?.message, "string", text);
  return body.error.message;
}

Deno.test("bodies past the limit get 413 with a JSON message, unread, on every body route", async (t) => {
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario();
  const { chainId, addresses } = s.ctx.chain;
  const signer = () =>
    signUpload(
      accountUploadSigner(fx.coordinator),
      uploadDomain(chainId, addresses.registry),
      new Uint8Array(),
    );
  for (const declared of [false, true]) {
    const how = declared ? "with Content-Length" : "chunked";
    await t.step(how, async () => {
      for (const route of bodyRoutes(s)) {
        const [path, , limit] = route;
        // Execute
        const res = await postOversized(s, signer, route, declared);
        // Assert
        assert.equal(res.status, 413, `${path} ${how}: ${res.text}`);
        assert.match(messageOf(res.text), /larger than/, path);
        // Declared: refused from the header (the stream's own first pull aside); chunked:
        // counted, so at most a chunk past the limit (plus the stream's read-ahead).
        const most = declared ? CHUNK : limit + 2 * CHUNK;
        assert.ok(res.pulled <= most, `${path} ${how} pulled ${res.pulled} for a ${limit} limit`);
      }
    });
  }
});
