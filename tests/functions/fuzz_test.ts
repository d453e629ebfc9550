/**
 * Our own fuzz suite over every route of the coordinator, from the attacker's side: malformed,
 * wrong-typed, oversized (streamed with no Content-Length), replayed and concurrent input. Every
 * answer must be a 2xx or a 4xx with a JSON error message, never a 5xx; memory stays bounded; and
 * a job still trains and closes correctly afterwards. Inputs come from a seeded generator, so a
 * failure names the request and reproduces.
 */
import assert from "node:assert/strict";
import { Prng } from "../../lib/crypto/prng.ts";
import { read, type Scenario, setupCoordinator } from "./_coordinator.ts";

const ROUTES = [
  "/register",
  "/assign",
  "/aggregate",
  "/aggregate/update",
  "/aggregate/cluster",
  "/finalize",
  "/status",
  "/svdb",
  "/svdb/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
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

/** Fails unless `res` is a 2xx or a 4xx whose body is JSON carrying an error message. */
async function expectHandled(what: string, res: Response): Promise<void> {
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
}

async function fuzzRoute(s: Scenario, rng: Prng, path: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const method = ["POST", "POST", "POST", "GET", "PUT", "DELETE"][rng.nextUint32() % 6]!;
    const query = rng.nextUint32() % 3 === 0 ? `?node=${"%00".repeat(3)}&jobId=0x1` : "";
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

  await t.step("8 MiB streamed bodies without Content-Length on every POST route", async () => {
    for (const path of ROUTES) {
      const res = await s.call(path, {
        method: "POST",
        body: streamed(8 << 20),
        headers: { "content-type": "application/json" },
        // @ts-ignore: Deno's fetch types know duplex; RequestInit in lib.dom does not
        duplex: "half",
      });
      await expectHandled(`POST ${path} (streamed)`, res);
    }
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

  await t.step("a job still trains and closes correctly afterwards", async () => {
    const job = await s.job({ nodes: 2, rounds: 1 });
    await s.deliver(job, job.nodes);
    const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
    assert.equal(out.status, "closed");
    const rec = await s.jobRecord(job.jobId);
    assert.equal(rec.status, "completed");
    assert.ok(rec.metrics[0]!.valLoss < rec.initialValLoss, "the round improved the model");
  });
});
