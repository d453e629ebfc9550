/**
 * Our own fuzz suite over every route of the coordinator, from the attacker's side: malformed,
 * wrong-typed, oversized (streamed with no Content-Length), replayed and concurrent input. Every
 * answer must be a 2xx or a 4xx with a JSON error message, never a 5xx; memory stays bounded; and
 * a job still trains and closes correctly afterwards. Inputs come from a seeded generator, so a
 * failure names the request and reproduces.
 */
import assert from "node:assert/strict";
import { Prng } from "../../lib/crypto/prng.ts";
import { MAX_BODY_BYTES } from "../../functions/_http.ts";
import { MAX_INFER_BODY } from "../../lib/coordinator/models.ts";
import { envelopeToJson } from "../../lib/round/update_envelope.ts";
import { accountUploadSigner, signUpload, uploadDomain } from "../../lib/store/upload_signature.ts";
import { type Coordinator, read, type Scenario, setupCoordinator } from "./_coordinator.ts";

/** A CID (of nothing stored here) for the /svdb/<cid> routes. */
const SOME_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

const ROUTES = [
  "/",
  "/info",
  "/join",
  "/register",
  "/assign",
  "/aggregate",
  "/aggregate/update",
  "/aggregate/cluster",
  "/secagg",
  "/finalize",
  "/status",
  "/svdb",
  `/svdb/${SOME_CID}`,
  `/svdb/${SOME_CID}?format=raw`,
  "/ai/infer",
  "/rpc",
  "/v1/completions",
  "/v1/models",
  "/dashboard",
  "/did/resolve",
  "/did/access",
  "/did/grant",
  "/did/grant/prepare",
  "/no/such/route",
];

const FIELDS = [
  "jobId",
  "specCid",
  "nodePubkey",
  "node",
  "round",
  "updateCid",
  "signature",
  "model",
  "modelCid",
  "prompt",
  "input",
  "max_tokens",
  "maxTokens",
  "did",
  "grantee",
  "method",
  "params",
  "id",
  "jsonrpc",
  "__proto__",
  "constructor",
];

/** A value of a random JSON type, sometimes deep or long. */
function value(rng: Prng, depth = 0): unknown {
  const k = rng.nextUint32() % (depth > 3 ? 7 : 9);
  switch (k) {
    case 0:
      return null;
    case 1:
      return rng.nextUint32() % 2 === 0;
    case 2:
      return [
        -1,
        0,
        1.5,
        2 ** 53,
        -(2 ** 63),
        1e308,
        Number.MAX_SAFE_INTEGER,
      ][rng.nextUint32() % 7];
    case 3:
      return `0x${"ab".repeat(rng.nextUint32() % 40)}`;
    case 4:
      return "x".repeat(rng.nextUint32() % 3 === 0 ? 100_000 : 8);
    case 5:
      return "bafy\u0000\ud800<script>";
    case 6:
      return "";
    case 7:
      return Array.from({ length: rng.nextUint32() % 4 }, () => value(rng, depth + 1));
    default:
      return object(rng, depth + 1);
  }
}

function object(rng: Prng, depth = 0): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = rng.nextUint32() % 6; i > 0; i--) {
    o[FIELDS[rng.nextUint32() % FIELDS.length]!] = value(rng, depth);
  }
  return o;
}

/** A hostile body: broken JSON, a wrong-typed object, raw bytes or a deep nest. */
function body(rng: Prng): BodyInit {
  switch (rng.nextUint32() % 6) {
    case 0:
      return ["", "{", "null", "[]", "123", '"s"', "{}}", "\u0000"][rng.nextUint32() % 8]!;
    case 1:
      return crypto.getRandomValues(new Uint8Array(1 + (rng.nextUint32() % 2048)));
    case 2:
      return "[".repeat(5_000) + "]".repeat(5_000);
    default:
      return JSON.stringify(object(rng));
  }
}

/** A body streamed in 64 KiB chunks with no Content-Length, `bytes` long. */
function streamed(bytes: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= bytes) return c.close();
      const n = Math.min(65_536, bytes - sent);
      sent += n;
      c.enqueue(new Uint8Array(n).fill(123));
    },
  });
}

/**
 * Fails unless `res` is a 2xx or a 4xx whose body is JSON carrying an error message; returns
 * that message (undefined for a 2xx).
 */
async function expectHandled(what: string, res: Response): Promise<string | undefined> {
  const text = await res.text();
  assert.ok(res.status < 500, `${what}: ${res.status} ${text.slice(0, 200)}`);
  if (res.status < 400) return;
  let parsed: { error?: { message?: unknown } | string };
  try {
    parsed = JSON.parse(text);
  } catch {
    assert.fail(`${what}: ${res.status} with a non-JSON body ${text.slice(0, 200)}`);
  }
  const message = typeof parsed.error === "object" ? parsed.error?.message : parsed.error;
  assert.equal(typeof message, "string", `${what}: ${res.status} ${text.slice(0, 200)}`);
  return message as string;
}

/** The body limit of each route that reads a POST body (the others take none). */
function bodyLimits(s: Scenario): Record<string, number> {
  return {
    "/register": MAX_BODY_BYTES,
    "/assign": MAX_BODY_BYTES,
    "/aggregate": MAX_BODY_BYTES,
    "/aggregate/update": MAX_BODY_BYTES,
    "/aggregate/cluster": MAX_BODY_BYTES,
    "/secagg": MAX_BODY_BYTES,
    "/finalize": MAX_BODY_BYTES,
    "/svdb": s.ctx.config.maxBlobBytes,
    "/ai/infer": MAX_INFER_BODY,
    "/rpc": MAX_INFER_BODY,
    "/v1/completions": MAX_INFER_BODY,
    // /did/resolve and /did/access are GET routes: a POST is a 405 before any body is read.
    "/did/grant": MAX_BODY_BYTES,
    "/did/grant/prepare": MAX_BODY_BYTES,
  };
}

/** POSTs a streamed body past `path`'s limit (8 MiB where it reads none): 413 or 404/405. */
async function postOversized(fx: Coordinator, s: Scenario, path: string): Promise<void> {
  const limit = bodyLimits(s)[path];
  const { chainId, addresses } = s.ctx.chain;
  // /svdb reads only a signed body: 413 comes before the hash is checked.
  const signer = accountUploadSigner(fx.coordinator);
  const domain = uploadDomain(chainId, addresses.registry);
  const signed = path === "/svdb" ? await signUpload(signer, domain, new Uint8Array()) : {};
  const res = await s.call(path, {
    method: "POST",
    body: streamed(limit === undefined ? 8 << 20 : limit + (1 << 20)),
    headers: { "content-type": "application/json", ...signed },
    // @ts-ignore: Deno's fetch types know duplex; RequestInit in lib.dom does not
    duplex: "half",
  });
  const what = `POST ${path} (streamed)`;
  const status = res.status;
  const message = await expectHandled(what, res);
  if (limit === undefined) return assert.ok([404, 405].includes(status), `${what}: ${status}`);
  assert.equal(status, 413, `${what}: ${message}`);
  assert.match(message!, /larger than/, what);
}

async function fuzzRoute(s: Scenario, rng: Prng, path: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const method = ["POST", "POST", "POST", "GET", "PUT", "DELETE"][rng.nextUint32() % 6]!;
    const sep = path.includes("?") ? "&" : "?";
    const query = rng.nextUint32() % 3 === 0 ? `${sep}node=${"%00".repeat(3)}&jobId=0x1` : "";
    const init: RequestInit = { method };
    if (method === "POST" || method === "PUT") {
      init.body = body(rng);
      init.headers = { "content-type": rng.nextUint32() % 4 ? "application/json" : "text/plain" };
    }
    const what = `${method} ${path}${query} #${i}`;
    await expectHandled(what, await s.call(path + query, init));
  }
}

Deno.test("fuzz: every route answers hostile input with a 4xx and a JSON message", async (t) => {
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const rng = new Prng(20261205);
  const rssBefore = Deno.memoryUsage().rss;

  await t.step("malformed and wrong-typed bodies, odd methods and queries", async () => {
    for (const path of ROUTES) await fuzzRoute(s, rng, path, 40);
  });

  await t.step("bodies past the limit, streamed without Content-Length: 413", async () => {
    for (const path of ROUTES) await postOversized(fx, s, path);
  });

  await t.step("concurrent and replayed requests", async () => {
    const same = JSON.stringify(object(new Prng(7)));
    const calls = Array.from({ length: 120 }, (_, i) => {
      const path = ROUTES[i % ROUTES.length]!;
      return s.call(path, {
        method: "POST",
        body: same,
        headers: { "content-type": "application/json" },
      })
        .then((res) => expectHandled(`concurrent POST ${path} #${i}`, res));
    });
    await Promise.all(calls);
  });

  await t.step("memory stays bounded", () => {
    const grown = Deno.memoryUsage().rss - rssBefore;
    assert.ok(grown < 400 * 2 ** 20, `the process grew by ${(grown / 2 ** 20).toFixed(0)} MiB`);
  });

  await t.step(
    "a job still trains and closes correctly afterwards, valid replays change nothing",
    async () => {
      const job = await s.job({ nodes: 2, rounds: 1 });
      const [a, b] = [await s.train(job, job.nodes[0]!), await s.train(job, job.nodes[1]!)];
      const update = envelopeToJson(a.envelope);
      const first = await read(await s.post("/aggregate/update", update));
      assert.equal(first.status, 201, JSON.stringify(first.body));
      // A valid signed update replayed, at once and after: the stored record, nothing counted again.
      const replays = await Promise.all(
        [0, 1, 2, 3].map(() => s.post("/aggregate/update", update)),
      );
      const concurrent = await Promise.all(replays.map(read));
      const again = await read(await s.post("/aggregate/update", update));
      for (const r of [...concurrent, again]) {
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.deepEqual(r.body, first.body);
      }
      const waiting = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0];
      assert.equal(waiting.status, "waiting", JSON.stringify(waiting));
      assert.equal(waiting.updates, 1, "the replays were not counted");
      assert.equal(
        (await read(await s.post("/aggregate/update", envelopeToJson(b.envelope)))).status,
        201,
      );
      const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
      assert.equal(out.status, "closed");
      assert.equal(out.updates, 2);
      // Replayed after the close: refused, and the closed round stays as it was.
      const late = await s.post("/aggregate/update", update);
      assert.equal(late.status, 409);
      await expectHandled("replay after the close", late);
      const rec = await s.jobRecord(job.jobId);
      assert.equal(rec.status, "completed");
      assert.equal(rec.metrics.length, 1);
      assert.equal(rec.metrics[0]!.updates, 2);
      assert.ok(rec.metrics[0]!.valLoss < rec.initialValLoss, "the round improved the model");
    },
  );
});
