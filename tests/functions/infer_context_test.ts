/**
 * /ai/infer against published models an attacker shapes: a long context (attention memory is
 * quadratic in it) and CIDs published but never stored (loads that fail).
 */
import assert from "node:assert/strict";
import { zeroHash } from "viem";
import { attentionBytes } from "../../kernel/inference/runtime.ts";
import { initWeights, type ModelConfig, paramLayout } from "../../kernel/params.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import type { ArthaClient } from "../../lib/chain/client.ts";
import { publishModel } from "../../lib/chain/publish_model.ts";
import { registerModel } from "../../lib/chain/register_model.ts";
import {
  MAX_ATTENTION_BYTES,
  MAX_INPUT_BYTES,
  MAX_SERVED_MODELS,
  modelsOf,
} from "../../lib/coordinator/models.ts";
import { encodeCheckpoint } from "../../lib/model/checkpoint.ts";
import { computeCid } from "../../lib/store/cid.ts";
import { accountUploadSigner } from "../../lib/store/upload_signature.ts";
import {
  type Coordinator,
  createTestDid,
  postSigned,
  read,
  type Scenario,
  setupCoordinator,
} from "./_coordinator.ts";

const TEXT = "The jury said it did find that the election was conducted well. ";

/** Registers a model as `publisher` and publishes `cid` under it (anyone may). */
async function publish(fx: Coordinator, publisher: ArthaClient, cid: string): Promise<void> {
  const modelId = await registerModel(publisher, {
    addresses: fx.addresses,
    name: `m-${cid.slice(-8)}`,
    jobId: zeroHash,
    publisher: publisher.account.address,
  });
  await publishModel(publisher, { addresses: fx.addresses, modelId, cid, weightsDigest: zeroHash });
}

/** Uploads a checkpoint of `config` (seeded weights) as `publisher` and publishes it. */
async function publishCheckpoint(
  fx: Coordinator,
  s: Scenario,
  publisher: { client: ArthaClient; did: string },
  config: ModelConfig,
  seed = 1,
): Promise<string> {
  const weights = initWeights(loadKernel(), paramLayout(config), seed);
  const signer = accountUploadSigner(publisher.client);
  const up = await read(
    await postSigned(s, signer, encodeCheckpoint(config, weights), { did: publisher.did }),
  );
  assert.equal(up.status, 201, JSON.stringify(up.body));
  await publish(fx, publisher.client, up.body.cid);
  return up.body.cid;
}

/** The process's peak resident memory (VmHWM) where Linux reports it, else its current. */
function peakRss(): number {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"))?.[1];
    if (kb) return Number(kb) * 1024;
  } catch {
    // not Linux: the current figure is a lower bound of the peak
  }
  return Deno.memoryUsage().rss;
}

Deno.test("attacker: a published model of a huge context is served over a bounded window", async () => {
  // Prepare: a 2.4 MB checkpoint of 16384 positions, published by anyone with a DID. Found in the
  // inference audit: scoring 16 KB under it held heads x T^2 attention scores over the whole
  // window (1.7 GiB at 4096 positions, ~27 GiB at 16384), for each of 16 requests at once.
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario();
  const client = fx.clients[2]!;
  const attacker = { client, did: await createTestDid(fx, client) };
  const huge: ModelConfig = { kind: "gpt", maxT: 16384, layers: 1, heads: 8, width: 32 };
  const cid = await publishCheckpoint(fx, s, attacker, huge);
  const infer = async (input: string, maxTokens: number) =>
    await read(await s.post("/ai/infer", { modelCid: cid, input, maxTokens }));

  // Execute: a short request first (cheap whatever the window), then the whole attack.
  const short = await infer(TEXT, 0);
  assert.equal(short.status, 200, JSON.stringify(short.body));
  const window = short.body.contextTokens;
  assert.ok(window < huge.maxT, `served over ${window} positions`);
  const before = Deno.memoryUsage().rss;
  const input = TEXT.repeat(Math.ceil(MAX_INPUT_BYTES / TEXT.length)).slice(0, MAX_INPUT_BYTES);
  const scored = await infer(input, 0);
  const grew = peakRss() - before;
  const generated = await infer(input, 2);

  // Assert: the window's attention fits the budget, and the request held no more than that.
  const backend = { name: short.body.backend, config: huge };
  assert.ok(attentionBytes(backend, window) <= MAX_ATTENTION_BYTES);
  assert.ok(attentionBytes(backend, window + 1) > MAX_ATTENTION_BYTES, "the most that fits");
  assert.equal(scored.status, 200, JSON.stringify(scored.body));
  assert.equal(scored.body.contextTokens, window);
  assert.equal(scored.body.tokens, Math.floor((MAX_INPUT_BYTES - 1) / window) * window);
  assert.ok(grew < 2 * MAX_ATTENTION_BYTES, `peak memory grew ${grew} bytes`);
  assert.equal(generated.status, 200, JSON.stringify(generated.body));
  assert.equal(generated.body.generatedTokens, 2);
});

Deno.test("a model of at most 2048 positions keeps its whole context", async () => {
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario();
  const client = fx.clients[2]!;
  const owner = { client, did: await createTestDid(fx, client) };
  const config: ModelConfig = { kind: "gpt", maxT: 2048, layers: 1, heads: 8, width: 32 };
  const cid = await publishCheckpoint(fx, s, owner, config);
  const input = TEXT.repeat(80).slice(0, 4100);

  const asked = { modelCid: cid, input, maxTokens: 1, score: true }; // scored only when asked
  const res = await read(await s.post("/ai/infer", asked));

  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.contextTokens, 2048);
  assert.equal(res.body.tokens, 2 * 2048);
});

Deno.test("attacker: published CIDs missing from the store evict no loaded model", async () => {
  // Prepare: as many loaded models as the coordinator keeps. Found in the inference audit: a
  // request took its place in the cache before its load, so a published CID nobody stored (a 404
  // after the load fails) evicted the least recently used model, each costing its next user a
  // reload.
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario();
  const client = fx.clients[2]!;
  const attacker = { client, did: await createTestDid(fx, client) };
  const tiny: ModelConfig = { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 };
  const loaded = [];
  for (let seed = 1; seed <= MAX_SERVED_MODELS; seed++) {
    const cid = await publishCheckpoint(fx, s, attacker, tiny, seed);
    const res = await read(await s.post("/ai/infer", { modelCid: cid, input: TEXT, maxTokens: 0 }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    loaded.push(cid);
  }
  const missing = [];
  for (let i = 0; i < MAX_SERVED_MODELS + 2; i++) {
    const cid = (await computeCid(new TextEncoder().encode(`never stored ${i}`))).toString();
    await publish(fx, client, cid);
    missing.push(cid);
  }

  // Execute: each missing CID asked for, one after another, then all at once.
  const asks = [];
  for (const modelCid of missing) {
    asks.push(await read(await s.post("/ai/infer", { modelCid, input: TEXT, maxTokens: 0 })));
  }
  // All at once, each load held 200 ms by a slow store, so they overlap.
  const getBlock = s.ctx.store.getBlock.bind(s.ctx.store);
  s.ctx.store.getBlock = async (...args) => {
    await new Promise((r) => setTimeout(r, 200));
    return await getBlock(...args);
  };
  try {
    asks.push(
      ...await Promise.all(
        missing.map(async (modelCid) =>
          await read(await s.post("/ai/infer", { modelCid, input: TEXT, maxTokens: 0 }))
        ),
      ),
    );
  } finally {
    s.ctx.store.getBlock = getBlock;
  }

  // Assert: each a 404 naming the store (or, past the loads under way, a 503 to retry); every
  // loaded model still loaded, in the same order.
  for (const r of asks) {
    const answer = [r.status, r.body.error.code];
    assert.ok(
      ["404,MODEL_NOT_STORED", "503,MODELS_BUSY"].includes(answer.join()),
      JSON.stringify(r.body),
    );
  }
  assert.deepEqual(modelsOf(s.ctx).loaded(), loaded);
});

Deno.test("attacker: a flood of made-up CIDs makes at most 8 chain reads at once", async () => {
  // Found in the inference audit: every request for an unknown CID made a chain read before any
  // limit, and a flood of them spent the RPC quota the coordinator's closes and challenges need.
  // Prepare: the chain answers slowly (each eth_call held 300 ms); 24 requests at once.
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  let reads = 0, most = 0;
  const original = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const body = typeof init?.body === "string" ? init.body : "";
    if (!body.includes('"eth_call"')) return await original(input, init);
    most = Math.max(most, ++reads);
    try {
      await new Promise((r) => setTimeout(r, 300));
      return await original(input, init);
    } finally {
      reads--;
    }
  };
  let answers;
  try {
    const cids = await Promise.all(
      Array.from({ length: 24 }, () => computeCid(crypto.getRandomValues(new Uint8Array(32)))),
    );
    answers = await Promise.all(
      cids.map(async (cid) =>
        (await read(await s.post("/ai/infer", { modelCid: cid.toString(), input: TEXT }))).status
      ),
    );
  } finally {
    globalThis.fetch = original;
  }

  // Assert: at most 8 lookups read the chain; the rest were told to retry.
  assert.ok(most <= 8, `${most} chain reads at once`);
  assert.equal(answers.filter((x) => x === 404).length, 8);
  assert.equal(answers.filter((x) => x === 503).length, 16);
});
