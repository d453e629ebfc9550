/**
 * The inference routes from the side of their callers, after the inference audit's findings:
 * per-client limits (generations at once, cold loads per minute, a loaded model's residence, a
 * brief memory of unservable CIDs), scoring only when asked, OpenAI's `stream: false` and empty
 * prompt, and a paginated model listing with every publisher of a CID.
 */
import assert from "node:assert/strict";
import { type Hex, zeroHash } from "viem";
import type { ArthaClient } from "../../lib/chain/client.ts";
import { publishModel } from "../../lib/chain/publish_model.ts";
import { registerModel } from "../../lib/chain/register_model.ts";
import {
  MAX_GENERATIONS,
  MAX_INPUT_BYTES,
  MAX_SERVED_MODELS,
  modelsOf,
} from "../../lib/coordinator/models.ts";
import { DEFAULT_INFER_LIMITS } from "../../lib/coordinator/model_limits.ts";
import { LIST_SCAN_PARTS } from "../../lib/coordinator/model_listing.ts";
import { canonicalCid } from "../../lib/coordinator/svdb_private.ts";
import { computeCid } from "../../lib/store/cid.ts";
import { type Coordinator, read, type Scenario, setupCoordinator } from "./_coordinator.ts";

const TEXT = "The jury said it did find that the election was conducted well. ";

type Route = (req: Request, info?: { remoteAddr: Deno.Addr }) => Promise<Response>;

/**
 * A client at `ip` calling the scenario's router, as Deno.serve would with its remote address;
 * `forwardedFor` adds the X-Forwarded-For a reverse proxy at `ip` would.
 */
function clientAt(s: Scenario, ip: string, forwardedFor?: string) {
  const addr: Deno.Addr = { transport: "tcp", hostname: ip, port: 40_000 };
  const call = (path: string, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    if (forwardedFor) headers.set("x-forwarded-for", forwardedFor);
    const req = new Request(`http://coordinator${path}`, { ...init, headers });
    return (s.route as Route)(req, { remoteAddr: addr });
  };
  return {
    call,
    post: (path: string, body: unknown, headers: Record<string, string> = {}) =>
      call(path, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      }),
  };
}

/** The checkpoints of a job of `rounds` rounds run to the end in `s`, round by round. */
async function checkpointsOf(s: Scenario, rounds: number): Promise<string[]> {
  const job = await s.job({ nodes: 2, rounds });
  const cids: string[] = [];
  for (let r = 0; r < rounds; r++) {
    await s.deliver(job, job.nodes);
    cids.push(
      (await read(await s.post("/aggregate", { jobId: job.jobId }))).body[0].checkpointCid,
    );
  }
  return cids;
}

Deno.test("attacker: inference limits per client, from the routes", async (t) => {
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const cids = await checkpointsOf(s, MAX_SERVED_MODELS + 1);
  const limits = DEFAULT_INFER_LIMITS; // the service runs with these unless told otherwise

  await t.step("one client's streams take at most its share of the generations", async () => {
    // Found in the inference audit: 16 anonymous streams held open took every generation slot.
    const attacker = clientAt(s, "198.51.100.7");
    const ask = { modelCid: cids[0], input: TEXT, maxTokens: 1024, stream: true };
    const held = [];
    for (let i = 0; i < limits.clientGenerations; i++) {
      held.push(await attacker.post("/ai/infer", ask));
    }
    const refused = await attacker.post("/ai/infer", ask);
    const other = await clientAt(s, "203.0.113.9").post("/ai/infer", { ...ask, maxTokens: 2 });

    assert.deepEqual(held.map((r) => r.status), [200, 200]);
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    assert.equal((await refused.json()).error.code, "CLIENT_BUSY");
    assert.equal(other.status, 200);
    for (const r of [...held, other]) await r.body?.cancel();
  });

  await t.step("cycling checkpoints spends a budget of cold loads, then 429", async () => {
    // Found in the inference audit: cycling five checkpoints reloaded a model per request.
    const cycler = clientAt(s, "198.51.100.8");
    const statuses = [];
    let loads = 0;
    for (let i = 0; i < 2 * cids.length; i++) {
      const before = modelsOf(s.ctx).loaded();
      const res = await cycler.post("/ai/infer", {
        modelCid: cids[i % cids.length],
        input: TEXT,
        maxTokens: 1,
      });
      statuses.push(res.status);
      if (res.status === 429) assert.ok(Number(res.headers.get("retry-after")) >= 1);
      await res.body?.cancel();
      loads += modelsOf(s.ctx).loaded().filter((c) => !before.includes(c)).length;
    }
    // Assert: loads stop at the client's budget; past it, 429 with Retry-After.
    assert.ok(loads <= limits.clientColdPerMinute, `${loads} loads`);
    assert.ok(statuses.includes(429), JSON.stringify(statuses));
  });

  await t.step(
    "a client's newest model is kept from another client's cycling while young",
    async () => {
      // Found in the inference audit: a client cycling checkpoints evicted the models others
      // used, who then reloaded them (1-2 s of CPU each).
      s.advance(limits.minResidenceMs); // nothing young
      const user = clientAt(s, "192.0.2.44");
      const mine = cids.find((c) => !modelsOf(s.ctx).loaded().includes(c))!;
      const first = await user.post("/ai/infer", { modelCid: mine, input: TEXT, maxTokens: 1 });
      assert.equal(first.status, 200);
      await first.body?.cancel();
      const cycler = clientAt(s, "192.0.2.45");
      for (const cid of cids.filter((c) => c !== mine)) {
        const res = await cycler.post("/ai/infer", { modelCid: cid, input: TEXT, maxTokens: 1 });
        await res.body?.cancel();
        assert.ok(modelsOf(s.ctx).loaded().includes(mine), "the user's model was evicted");
      }
    },
  );

  await t.step("an unknown CID asked again reads the chain once", async () => {
    const client = s.ctx.chain.client;
    const readContract = client.readContract;
    let reads = 0;
    client.readContract = ((a: never) => (reads++, readContract.call(client, a))) as never;
    try {
      const unknown = (await computeCid(new TextEncoder().encode("nobody's model"))).toString();
      const answers = [];
      for (let i = 0; i < 5; i++) {
        const who = clientAt(s, `192.0.2.${100 + i}`); // many clients: no budget saves it
        const res = await who.post("/ai/infer", { modelCid: unknown, input: TEXT });
        answers.push([res.status, (await res.json()).error.code]);
      }
      assert.deepEqual(answers, Array(5).fill([404, "UNKNOWN_MODEL"]));
      assert.equal(reads, 1);
    } finally {
      client.readContract = readContract;
    }
  });

  await t.step("a long prompt is scored only when asked", async () => {
    // Found in the inference audit: every request scored its whole prompt.
    const who = clientAt(s, "192.0.2.200");
    const loaded = modelsOf(s.ctx).loaded().at(-1)!;
    const input = TEXT.repeat(Math.ceil(MAX_INPUT_BYTES / TEXT.length)).slice(0, MAX_INPUT_BYTES);
    const plain = await read(
      await who.post("/ai/infer", { modelCid: loaded, input, maxTokens: 1 }),
    );
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    assert.equal(plain.body.tokens, undefined);
    assert.equal(plain.body.lossNats, undefined);
    const scored = await read(
      await who.post("/ai/infer", { modelCid: loaded, input: TEXT, maxTokens: 1, score: true }),
    );
    assert.ok(scored.body.lossNats > 0, JSON.stringify(scored.body));
  });

  await t.step("OpenAI: stream false wins over Accept, an empty prompt completes", async () => {
    const who = clientAt(s, "192.0.2.201");
    const model = modelsOf(s.ctx).loaded().at(-1)!;
    const sse = { accept: "application/json, text/event-stream" };
    const res = await who.post("/v1/completions", {
      model,
      prompt: "The",
      max_tokens: 2,
      stream: false,
    }, sse);
    assert.match(res.headers.get("content-type")!, /application\/json/);
    assert.equal((await res.json()).object, "text_completion");
    const empty = await read(
      await who.post("/v1/completions", { model, prompt: "", max_tokens: 3 }),
    );
    assert.equal(empty.status, 200, JSON.stringify(empty.body));
    assert.equal(empty.body.usage.completion_tokens, 3);
    assert.equal(empty.body.usage.prompt_tokens, 0);
  });
});

/** Registers a model named `name` as `publisher` and publishes `cid` under it. */
async function publishAs(
  fx: Coordinator,
  publisher: ArthaClient,
  name: string,
  cid: string,
): Promise<Hex> {
  const modelId = await registerModel(publisher, {
    addresses: fx.addresses,
    name,
    jobId: zeroHash,
    publisher: publisher.account.address,
  });
  await publishModel(publisher, { addresses: fx.addresses, modelId, cid, weightsDigest: zeroHash });
  return modelId;
}

Deno.test("attacker: the model listing is paged, deduplicated and names every publisher", async () => {
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const [alice, mallory] = [fx.clients[1]!, fx.clients[2]!];
  const cid = async (i: number) =>
    (await computeCid(new TextEncoder().encode(`model ${i}`))).toString();
  const [a, b, c] = [await cid(1), await cid(2), await cid(3)];
  const aliceModel = await publishAs(fx, alice, "alice", a);
  // Found in the inference audit: the first to publish a CID was shown as its only owner.
  const malloryModel = await publishAs(fx, mallory, "mallory", a);
  await publishAs(fx, mallory, "junk", "x".repeat(2_000)); // no CID: not listed
  await publishAs(fx, alice, "b", b);
  await publishAs(fx, alice, "c", c);
  const client = s.ctx.chain.client;
  const getBlockNumber = client.getBlockNumber;
  let heads = 0;
  client.getBlockNumber = ((o: never) => (heads++, getBlockNumber.call(client, o))) as never;
  try {
    const who = clientAt(s, "192.0.2.1");
    const first = await read(await who.call("/v1/models?limit=2"));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(first.body.data.map((m: { id: string }) => m.id), [a, b]);
    assert.equal(first.body.has_more, true);
    assert.equal(first.body.first_id, a);
    assert.equal(first.body.last_id, b);
    assert.equal(first.body.data[0].owned_by, "shared");
    assert.deepEqual(
      first.body.data[0].publishers.map((p: { model_id: string }) => p.model_id),
      [aliceModel, malloryModel],
    );
    const next = await read(await who.call(`/v1/models?limit=2&after=${b}`));
    assert.deepEqual(next.body.data.map((m: { id: string }) => m.id), [c]);
    assert.equal(next.body.has_more, false);
    const one = await read(await who.call(`/v1/models/${c}`));
    assert.equal(one.status, 200);
    assert.equal(one.body.id, c);
    assert.equal((await who.call(`/v1/models/${await cid(9)}`)).status, 404);
    for (const q of ["limit=0", "limit=1001", "limit=x", `after=${await cid(9)}`]) {
      const bad = await read(await who.call(`/v1/models?${q}`));
      assert.equal(bad.status, 400, q);
    }
    // A batch of 16 listings reads the chain head once, and each answers one page.
    const batch = Array.from({ length: 16 }, (_, id) => ({
      jsonrpc: "2.0",
      id,
      method: "ai_models",
      params: { limit: 1 },
    }));
    heads = 0;
    const answers = await read(await who.post("/rpc", batch));
    for (const r of answers.body) {
      assert.deepEqual(r.result.map((m: { cid: string }) => m.cid), [a]);
    }
    assert.ok(heads <= 1, `${heads} head reads`);
  } finally {
    client.getBlockNumber = getBlockNumber;
  }
});

Deno.test("a coordinator's ARTHA_INFER_* limits are the ones its inference service runs with", async () => {
  await using fx = await setupCoordinator();
  const s = await fx.scenario({
    config: { inferLimits: { clientGenerations: 5, minResidenceMs: 0 } },
  });
  const { limits } = modelsOf(s.ctx);
  assert.equal(limits.clientGenerations, 5);
  assert.equal(limits.minResidenceMs, 0);
  assert.equal(limits.clientColdPerMinute, DEFAULT_INFER_LIMITS.clientColdPerMinute);
});

Deno.test("attacker: four clients refreshing a model each every 50 s do not keep others out", async () => {
  // Found reviewing the residence rule: every load was protected for 60 s, so four clients (four
  // /64s of one /48) each loading a model every 50 s, in place of their own, kept all four slots
  // young and every other client got 503 MODELS_BUSY for good.
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const cids = await checkpointsOf(s, MAX_SERVED_MODELS + 2);
  const attackers = Array.from(
    { length: MAX_SERVED_MODELS },
    (_, i) => clientAt(s, `2001:db8:${i}::1`),
  );
  const ask = async (who: ReturnType<typeof clientAt>, cid: string) => {
    const res = await who.post("/ai/infer", { modelCid: cid, input: "ab", maxTokens: 1 });
    await res.body?.cancel();
    return res.status;
  };
  const notLoaded = () => cids.find((c) => !modelsOf(s.ctx).loaded().includes(c))!;
  for (const [i, a] of attackers.entries()) assert.equal(await ask(a, cids[i]!), 200);
  const honest = clientAt(s, "192.0.2.44");
  const statuses: number[] = [];
  for (let minute = 0; minute < 5; minute++) {
    s.advance(50_000);
    for (const a of attackers) await ask(a, notLoaded());
    s.advance(9_000);
    statuses.push(await ask(honest, notLoaded()));
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
});

Deno.test("behind a trusted proxy its users are told apart; anyone else's X-Forwarded-For is not read", async () => {
  // Found reviewing the limits: behind a reverse proxy every user was the proxy's address, so
  // the whole service had one client's 2 generations and 6 cold loads a minute.
  await using fx = await setupCoordinator();
  const s = await fx.scenario({ config: { trustedProxies: ["127.0.0.1"] } });
  const [cid] = await checkpointsOf(s, 1);
  const ask = { modelCid: cid, input: TEXT, maxTokens: 1024, stream: true };
  const users = ["198.51.100.1", "198.51.100.2"].map((ip) => clientAt(s, "127.0.0.1", ip));
  const held = [];
  for (const user of users) {
    for (let i = 0; i < DEFAULT_INFER_LIMITS.clientGenerations; i++) {
      held.push(await user.post("/ai/infer", ask));
    }
  }
  assert.deepEqual(held.map((r) => r.status), [200, 200, 200, 200]);
  // An untrusted sender posing as many clients is one client.
  const poser = (n: number) => clientAt(s, "192.0.2.9", `203.0.113.${n}`);
  const posed = [];
  for (let n = 0; n < 3; n++) posed.push(await poser(n).post("/ai/infer", ask));
  assert.deepEqual(posed.map((r) => r.status), [200, 200, 429]);
  for (const r of [...held, ...posed]) await r.body?.cancel();
});

Deno.test("a cold request the service refused as busy (503) does not spend the client's budget", async () => {
  // Found reviewing the limits: the cold budget was spent before the busy checks, so a client
  // retrying as Retry-After said spent it on the service's own 503s and then got 429.
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const cids = await checkpointsOf(s, 2);
  const hold = { modelCid: cids[0], input: TEXT, maxTokens: 1024, stream: true };
  const held = [];
  for (let i = 0; i < MAX_GENERATIONS; i++) {
    held.push(await clientAt(s, `198.51.100.${10 + (i >> 1)}`).post("/ai/infer", hold));
  }
  const asker = clientAt(s, "203.0.113.5");
  const statuses = [];
  for (let i = 0; i <= DEFAULT_INFER_LIMITS.clientColdPerMinute; i++) {
    const res = await asker.post("/ai/infer", { modelCid: cids[1], input: TEXT, maxTokens: 1 });
    statuses.push(res.status);
    await res.body?.cancel();
  }
  assert.deepEqual(statuses, Array(DEFAULT_INFER_LIMITS.clientColdPerMinute + 1).fill(503));
  for (const r of held) await r.body?.cancel();
  const after = await asker.post("/ai/infer", { modelCid: cids[1], input: TEXT, maxTokens: 1 });
  assert.equal(after.status, 200);
  await after.body?.cancel();
});

Deno.test("the listing reads a long chain a bounded part at a time, and one folder's two CID spellings are one row", async () => {
  // Found reviewing the index: a fresh process's first GET read a long chain whole (about 5,000
  // queries at 10 million blocks) before answering, and a CIDv0 and its CIDv1 were two rows.
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const [alice, mallory] = [fx.clients[1]!, fx.clients[2]!];
  const v0 = (await computeCid(new TextEncoder().encode("a folder"), { cidVersion: 0 }))
    .toString();
  const v1 = canonicalCid(v0);
  assert.notEqual(v0, v1);
  await publishAs(fx, alice, "alice", v0);
  await publishAs(fx, mallory, "mallory", v1);
  const listed = await read(await clientAt(s, "192.0.2.1").call("/v1/models"));
  assert.deepEqual(listed.body.data.map((m: { id: string }) => m.id), [v0]);
  assert.equal(listed.body.data[0].publishers.length, 2);

  // A chain of a million blocks, as a fresh coordinator process first sees it.
  const fresh = await fx.scenario();
  const client = fresh.ctx.chain.client;
  const [head, events] = [client.getBlockNumber, client.getContractEvents];
  let queries = 0;
  client.getBlockNumber = (() => Promise.resolve(1_000_000n)) as typeof head;
  client.getContractEvents = (() => (queries++, Promise.resolve([]))) as never;
  try {
    const page = await clientAt(fresh, "192.0.2.2").call("/v1/models");
    assert.equal(page.status, 200);
    await page.body?.cancel();
    assert.ok(queries <= LIST_SCAN_PARTS, `${queries} log queries for one GET`);
  } finally {
    client.getBlockNumber = head;
    client.getContractEvents = events;
  }
});
