/**
 * The worker's coordinator client: refusals in the wire format become a CoordinatorError with
 * status and code (never guessed from the message text); transient failures are retried when asked.
 */
import assert from "node:assert/strict";
import {
  CoordinatorClient,
  CoordinatorError,
  isTransient,
  parseErrorBody,
  ROUND_NOT_OPEN,
  UNKNOWN,
  UPDATE_COUNTED,
} from "../../lib/worker/client.ts";
import { postUpdate } from "../../lib/worker/deliver.ts";

const answer = (status: number, body: unknown) => () =>
  Promise.resolve(
    new Response(typeof body === "string" ? body : JSON.stringify(body), { status }),
  );

Deno.test("parseErrorBody reads the wire format; text alone never yields a code", () => {
  // Prepare
  const wire = JSON.stringify({ error: { code: "BAD_SIGNATURE", message: "Cannot verify" } });
  const legacyClosed = JSON.stringify({
    error: "Cannot accept update: round 1 is not the open round 2",
  });
  const legacyOther = JSON.stringify({ error: "Cannot accept update: job is Finalized" });
  // Execute, Assert
  assert.deepEqual(parseErrorBody(wire), { code: "BAD_SIGNATURE", message: "Cannot verify" });
  assert.equal(parseErrorBody(legacyClosed).code, UNKNOWN);
  assert.equal(parseErrorBody(legacyOther).code, UNKNOWN);
  assert.deepEqual(parseErrorBody("unavailable"), { code: UNKNOWN, message: "unavailable" });
});

Deno.test("an error status throws a CoordinatorError naming the call", async () => {
  const client = new CoordinatorClient(
    answer(409, { error: { code: ROUND_NOT_OPEN, message: "round 1 closed" } }),
  );
  const e = await client.postJson("/aggregate/update", {}).catch((e) => e);
  assert.ok(e instanceof CoordinatorError);
  assert.equal(e.status, 409);
  assert.equal(e.code, ROUND_NOT_OPEN);
  assert.match(e.message, /^Cannot POST \/aggregate\/update: 409 round 1 closed$/);
});

Deno.test("postUpdate treats ROUND_NOT_OPEN as delivered too late, UPDATE_COUNTED as delivered, anything else as an error", async () => {
  const closed = answer(409, { error: { code: ROUND_NOT_OPEN, message: "" } });
  assert.equal(await postUpdate(new CoordinatorClient(closed), "{}"), false);
  assert.equal(await postUpdate(new CoordinatorClient(answer(200, { ok: true })), "{}"), true);
  const counted = answer(409, { error: { code: UPDATE_COUNTED, message: "counted in round 1" } });
  assert.equal(await postUpdate(new CoordinatorClient(counted), "{}"), true);
  const conflict = answer(409, { error: { code: "UPDATE_CONFLICT", message: "another update" } });
  await assert.rejects(postUpdate(new CoordinatorClient(conflict), "{}"), CoordinatorError);
});

Deno.test("transient failures are retried only when asked", async () => {
  let calls = 0;
  const flaky = (path: string) => {
    calls++;
    if (calls === 1) return Promise.reject(new TypeError("connection refused"));
    if (calls === 2) return Promise.resolve(new Response("busy", { status: 503 }));
    return Promise.resolve(Response.json({ path }));
  };
  const retrying = new CoordinatorClient(flaky, { retries: 2, retryDelayMs: 1 });
  assert.deepEqual(await retrying.getJson("/status"), { path: "/status" });
  assert.equal(calls, 3);

  calls = 1; // next answer: 503
  const once = new CoordinatorClient(flaky);
  await assert.rejects(
    once.getJson("/status"),
    (e) => e instanceof CoordinatorError && e.status === 503,
  );
  assert.equal(calls, 2);
});

Deno.test("attacker: a coordinator that never answers times the request out, as a transient failure", async () => {
  // Prepare: a coordinator that holds every request open until the client gives up.
  const hang: ConstructorParameters<typeof CoordinatorClient>[0] = (_path, init) =>
    new Promise((_, fail) =>
      init?.signal?.addEventListener("abort", () => fail(init.signal!.reason))
    );
  const client = new CoordinatorClient(hang, { timeoutMs: 50 });

  // Execute
  const err = await client.getJson("/assign?node=0x00").catch((e) => e);

  // Assert: the call ends (the worker's heartbeats and challenge answers run again) and the
  // worker treats it as the coordinator being away, backing off and retrying.
  assert.ok(err instanceof DOMException && err.name === "TimeoutError", String(err));
  assert.ok(isTransient(err));
});
