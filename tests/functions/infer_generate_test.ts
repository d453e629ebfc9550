/**
 * Publishing and serving: finalize exports the HF folder into SVDB, the owner publishes its CID,
 * and /ai/infer (JSON and SSE), /rpc (JSON-RPC 2.0), /v1/completions and the embedded CLI
 * (downloading through the /svdb gateway) generate from it.
 */
import assert from "node:assert/strict";
import { modelsOf } from "../../lib/coordinator/models.ts";
import { abis } from "../../lib/chain/contracts.ts";
import { publishModel } from "../../lib/chain/publish_model.ts";
import { computeCid } from "../../lib/store/cid.ts";
import { privateKey } from "../../lib/coordinator/svdb_private.ts";
import { exportHfModel, readHfModel, WEIGHTS_FILE } from "../../lib/model/hf_model.ts";
import { fetchModelFolder, getModelFolder, putModelFolder } from "../../lib/model/model_folder.ts";
import { decodeCheckpoint } from "../../lib/model/checkpoint.ts";
import { registerModel } from "../../lib/chain/register_model.ts";
import { listValues, type UpdateRecord } from "../../lib/coordinator/state.ts";
import { type Generation, MAX_NEW_TOKENS } from "../../lib/coordinator/models.ts";
import { openAiStreamFrames } from "../../lib/coordinator/model_openai.ts";
import { reject, RejectedError } from "../../lib/coordinator/result.ts";
import { sseResponse } from "../../functions/_http.ts";
import { type Coordinator, read, setupCoordinator } from "./_coordinator.ts";
import type { Hex } from "viem";

/** Data frames of a text/event-stream body: [event, parsed data or raw text]. */
async function events(res: Response): Promise<[string, unknown][]> {
  const text = await res.text();
  return text.split("\n\n").filter((f) => f.trim()).map((frame) => {
    const event = /^event: (.*)$/m.exec(frame)?.[1] ?? "message";
    const data = /^data: (.*)$/m.exec(frame)?.[1] ?? "";
    return [event, data === "[DONE]" ? data : JSON.parse(data)];
  });
}

Deno.test("infer: publish the HF folder and generate from it", async (t) => {
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1, model: true });
  await s.deliver(job, job.nodes);
  await s.post("/aggregate", { jobId: job.jobId });
  const fin = await read(await s.post("/finalize", { jobId: job.jobId }));
  assert.equal(fin.status, 200);
  const folder: string = fin.body[0].modelFolderCid;
  assert.match(folder, /^bafy/, "a dag-pb (directory) CIDv1");

  await t.step("finalize exported a folder that reads back as the final checkpoint", async () => {
    const files = await getModelFolder(fx.store, folder);
    assert.deepEqual(Object.keys(files).sort(), [
      "artha.json",
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "onnx/model.onnx",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    const config = JSON.parse(new TextDecoder().decode(files["config.json"]));
    assert.equal(config.model_type, "gpt2");
    assert.equal(readHfModel(files).info.metadata.checkpointCid, fin.body[0].globalCid);
    const gc = await fx.store.gc();
    assert.ok(gc.kept > 0);
    assert.ok(await fx.store.has(folder), "the pinned folder survives gc");
  });

  const infer = (body: Record<string, unknown>) =>
    s.post("/ai/infer", { modelCid: folder, input: "The jury said", ...body });

  await t.step("POST /ai/infer generates, seeded, and scores the input", async () => {
    const asked = { maxTokens: 24, temperature: 0.8, topK: 40, seed: 3, score: true };
    const a = await read(await infer(asked));
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.equal(a.body.generatedTokens, 24);
    assert.equal(a.body.promptTokens, 13);
    assert.equal(a.body.finishReason, "length");
    assert.equal(a.body.backend, "ort-node");
    assert.ok(a.body.lossNats > 0 && a.body.tokens === 12);
    const b = await read(await infer({ maxTokens: 24, temperature: 0.8, topK: 40, seed: 3 }));
    assert.equal(b.body.text, a.body.text, "same seed, same text");
    assert.equal(new TextEncoder().encode(a.body.text).length <= 24 * 3, true);
  });

  await t.step("stream: true and Accept: text/event-stream stream the same text", async () => {
    const whole = await read(await infer({ maxTokens: 30, seed: 9 }));
    const res = await infer({ maxTokens: 30, seed: 9, stream: true });
    assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const ev = await events(res);
    const text = ev.filter(([e]) => e === "message").map(([, d]) => (d as { text: string }).text);
    assert.equal(text.join(""), whole.body.text);
    const done = ev.at(-1)!;
    assert.equal(done[0], "done");
    assert.equal((done[1] as { generatedTokens: number }).generatedTokens, 30);
    const byHeader = await s.call("/ai/infer", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ modelCid: folder, input: "The jury said", maxTokens: 30, seed: 9 }),
    });
    assert.equal((await events(byHeader)).at(-1)![0], "done");
  });

  await t.step("a client that disconnects mid-stream ends the generation quietly", async () => {
    // Before, the generation went on writing into the cancelled stream: "cannot enqueue" errors.
    const logged: unknown[] = [];
    const error = console.error;
    console.error = (...args: unknown[]) => logged.push(args);
    try {
      const res = await infer({ maxTokens: 200, seed: 5, stream: true });
      const reader = res.body!.getReader();
      await reader.read(); // the first frame
      await reader.cancel();
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      console.error = error;
    }
    assert.deepEqual(logged, []);
    const after = await read(await infer({ maxTokens: 4, seed: 5 }));
    assert.equal(after.status, 200);
  });

  await t.step("bad CIDs and oversized requests are 4xx with clear messages", async () => {
    const stranger = (await computeCid(new Uint8Array([9]))).toString();
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ modelCid: stranger, maxTokens: 4 }, 404, /not a published model/],
      [{ modelCid: "not-a-cid", maxTokens: 4 }, 400, /"modelCid"/],
      [{ maxTokens: MAX_NEW_TOKENS + 1 }, 400, /"maxTokens"/],
      [{ maxTokens: 4, temperature: -1 }, 400, /"temperature"/],
      [{ maxTokens: 4, topK: 1000 }, 400, /"topK"/],
      [{ maxTokens: 4, stream: "yes" }, 400, /"stream"/],
      [{ input: "é".repeat(9000), maxTokens: 4 }, 413, /input above/],
    ];
    for (const [body, status, message] of cases) {
      const res = await read(await infer(body));
      assert.equal(res.status, status, JSON.stringify(body).slice(0, 80));
      assert.match(res.body.error.message, message);
    }
  });

  await t.step("a published folder is served by any coordinator (ModelRegistry)", async () => {
    const other = await fx.scenario();
    const before = await read(
      await other.post("/ai/infer", { modelCid: folder, input: "ab", maxTokens: 2 }),
    );
    assert.equal(before.status, 404);
    const digest = (await fx.coordinator.readContract({
      address: fx.addresses.jobs,
      abi: abis.jobs,
      functionName: "getJob",
      args: [job.jobId],
    })).latestWeightsDigest;
    const pub = await publishModel(fx.owner, {
      addresses: fx.addresses,
      modelId: job.modelId!,
      cid: folder,
      weightsDigest: digest,
    });
    assert.equal(pub.version, 1n);
    // The unknown CID's 404 is kept a while (no chain read per request), then asked again.
    other.advance(modelsOf(other.ctx).limits.unservableTtlMs);
    const after = await read(
      await other.post("/ai/infer", { modelCid: `artha://${folder}`, input: "ab", maxTokens: 2 }),
    );
    assert.equal(after.status, 200);
  });

  await t.step(
    "attacker: a stranger publishing the job's folder does not take its row in /v1/models",
    async () => {
      // Found in the inference audit: publishing is open and a model's jobId is not checked, and
      // the listing kept the first published row of a CID and dropped the job's own, so a stranger
      // could be shown as the owner of a job's model.
      await publishAsStranger(fx, job.jobId, folder);
      const list = await read(await s.call("/v1/models"));
      const rows = list.body.data.filter((m: { id: string }) => m.id === folder);
      assert.equal(rows.length, 1);
      assert.equal(rows[0].owned_by, job.jobId);
    },
  );

  await t.step("JSON-RPC 2.0: ai_infer, ai_models, batches and error codes", async () => {
    const rpc = async (body: unknown) => read(await s.post("/rpc", body));
    const ok = await rpc({
      jsonrpc: "2.0",
      id: 1,
      method: "ai_infer",
      params: { modelCid: folder, input: "The jury said", maxTokens: 24, seed: 3 },
    });
    assert.equal(ok.body.id, 1);
    assert.equal(ok.body.result.generatedTokens, 24);
    const models = await rpc({ jsonrpc: "2.0", id: "m", method: "ai_models" });
    assert.ok(models.body.result.some((m: { cid: string }) => m.cid === folder));
    const code = async (body: unknown) => (await rpc(body)).body.error.code;
    assert.equal((await read(await s.post("/rpc", "{nope"))).body.error.code, -32700);
    // Attacker: another site's page POSTs a batch as text/plain (no preflight) to spend this
    // coordinator's CPU from its visitors' browsers (found in the browser audit).
    // (`text/plain; x=application/json` too: still text/plain to a browser, so no preflight.)
    const call = { jsonrpc: "2.0", id: 9, method: "ai_infer", params: { modelCid: folder } };
    for (const type of ["text/plain", "text/plain; x=application/json"]) {
      const simple = await s.call("/rpc", {
        method: "POST",
        headers: { "content-type": type },
        body: JSON.stringify([call, call]),
      });
      assert.equal(simple.status, 415, type);
      await simple.body?.cancel();
    }
    assert.equal(await code({ jsonrpc: "2.0", id: 2, method: "ai_nothing" }), -32601);
    assert.equal(await code({ id: 2, method: "ai_infer" }), -32600);
    assert.equal(
      await code({ jsonrpc: "2.0", id: 3, method: "ai_infer", params: { input: "x" } }),
      -32602,
    );
    const stranger = (await computeCid(new Uint8Array([7]))).toString();
    assert.equal(
      await code({
        jsonrpc: "2.0",
        id: 4,
        method: "ai_infer",
        params: { modelCid: stranger, input: "ab", maxTokens: 1 },
      }),
      -32004,
    );
    const batch = await rpc([
      { jsonrpc: "2.0", id: 5, method: "ai_models" },
      { jsonrpc: "2.0", method: "ai_models" }, // notification: no answer
      { jsonrpc: "2.0", id: 6, method: "nope" },
    ]);
    assert.deepEqual(batch.body.map((r: { id: number }) => r.id), [5, 6]);
    // Only our own methods dispatch: Object.prototype names are unknown methods.
    for (const method of ["toString", "constructor", "hasOwnProperty", "__proto__"]) {
      assert.equal(await code({ jsonrpc: "2.0", id: 7, method }), -32601, method);
    }
    // A notification is never answered, not even an unknown method or bad params.
    for (
      const n of [
        { jsonrpc: "2.0", method: "ai_nothing" },
        { jsonrpc: "2.0", method: "ai_infer", params: [1] },
        { jsonrpc: "2.0", method: "toString" },
      ]
    ) {
      const res = await s.post("/rpc", n);
      assert.equal(res.status, 204, JSON.stringify(n));
      await res.body?.cancel();
    }
    // An id must be a string, a number or null.
    const objectId = await rpc({ jsonrpc: "2.0", id: { x: 1 }, method: "ai_models" });
    assert.equal(objectId.body.error.code, -32600);
    assert.equal(objectId.body.id, null);
  });

  await t.step("attacker: ai_infer notifications run no generation", async () => {
    // Found in the inference audit: a batch of 16 ai_infer notifications (no id: nobody wants
    // the answer) ran 16 generations of up to 1,024 tokens each, holding every generation slot
    // for minutes after the client had gone; the answer was an empty 204.
    const models = modelsOf(s.ctx);
    const run = models.run;
    let runs = 0;
    models.run = (...a) => (runs++, run(...a));
    try {
      const call = { modelCid: folder, input: "x".repeat(1024), maxTokens: 1024 };
      const batch = Array.from({ length: 16 }, () => ({
        jsonrpc: "2.0",
        method: "ai_infer",
        params: call,
      }));
      const res = await s.post("/rpc", batch);
      assert.equal(res.status, 204);
      await res.body?.cancel();
      assert.equal(runs, 0, "no generation ran for a notification");
    } finally {
      models.run = run;
    }
  });

  await t.step("POST /v1/completions (OpenAI shape), plain and streamed", async () => {
    const res = await read(
      await s.post("/v1/completions", { model: folder, prompt: "The jury", max_tokens: 8 }),
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.object, "text_completion");
    assert.equal(res.body.usage.completion_tokens, 8);
    assert.equal(res.body.usage.prompt_tokens, 8);
    const streamed = await events(
      await s.post("/v1/completions", {
        model: folder,
        prompt: "The",
        max_tokens: 8,
        stream: true,
      }),
    );
    assert.equal(streamed.at(-1)![1], "[DONE]");
    // Streamed, an error before the first chunk is OpenAI's shape too (was {error: {code,
    // message}} with no type or param).
    const unknown = (await computeCid(new TextEncoder().encode("not a model"))).toString();
    const lost = await read(
      await s.post("/v1/completions", { model: unknown, prompt: "The", stream: true }),
    );
    assert.equal(lost.status, 404, JSON.stringify(lost.body));
    assert.deepEqual(lost.body, {
      error: {
        message: lost.body.error.message,
        type: "invalid_request_error",
        param: null,
        code: "UNKNOWN_MODEL",
      },
    });
    assert.match(lost.body.error.message, /not a published model/);
    const bad = await read(await s.post("/v1/completions", { model: folder, max_tokens: 2 }));
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /"prompt"/);
    // OpenAI's error shape, which its clients read.
    assert.equal(bad.body.error.type, "invalid_request_error");
    assert.equal(bad.body.error.param, "prompt");
    assert.equal(typeof bad.body.error.code, "string");
    // models.list() of OpenAI's clients.
    const list = await read(await s.call("/v1/models"));
    assert.equal(list.status, 200);
    assert.equal(list.body.object, "list");
    assert.ok(
      list.body.data.some((m: { id: string; object: string }) =>
        m.id === folder && m.object === "model"
      ),
    );
  });

  await t.step("the gateway serves the folder block by block, verified", async () => {
    const gw = (url: string | URL | Request) => s.route(new Request(url));
    const files = await fetchModelFolder("http://coordinator", folder, {
      fetch: gw as typeof fetch,
    });
    assert.deepEqual(files, await getModelFolder(fx.store, folder));
    const whole = await read(await s.call(`/svdb/${folder}`));
    assert.equal(whole.status, 422);
    assert.match(whole.body.error.message, /format=raw/);
  });

  await t.step("deno task infer downloads into a local cache and runs offline", async () => {
    const cache = await Deno.makeTempDir({ prefix: "artha-cache-" });
    await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, s.route);
    try {
      const run = async (gateway: string) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "infer.ts",
            "--model",
            `artha://${folder}`,
            "--gateway",
            gateway,
            "--store",
            `${cache}/no-store`,
            "--cache",
            cache,
            "--backend",
            "kernel",
            "--max-tokens",
            "24",
            "--seed",
            "3",
            "--temperature",
            "0.8",
            "The jury said",
          ],
          cwd: new URL("../../", import.meta.url).pathname,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        return new TextDecoder().decode(out.stdout);
      };
      const text = await run(`http://127.0.0.1:${server.addr.port}`);
      assert.ok(text.startsWith("The jury said"));
      assert.ok(await Deno.stat(`${cache}/${folder}/onnx/model.onnx`));
      await server.shutdown();
      // Offline: the gateway is gone, the cache answers; same seed, same text.
      assert.equal(await run("http://127.0.0.1:9"), text);
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  });

  await t.step(
    "attacker: a served folder whose weights were made private since is refused",
    async () => {
      // Found reviewing the warm-path check: only the folder's root was checked on each use, and a
      // loaded folder whose weights file was made a job's private data since was still served.
      assert.equal((await read(await infer({ maxTokens: 1 }))).status, 200, "loaded, served");
      const files = await getModelFolder(fx.store, folder);
      const weights = (await computeCid(files[WEIGHTS_FILE]!)).toString();
      await s.ctx.kv.set(privateKey(weights), { owner: "0xowner", jobs: [] });
      const res = await read(await infer({ maxTokens: 1 }));
      await s.ctx.kv.delete(privateKey(weights));
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.equal(res.body.error.code, "PRIVATE_FILE");
    },
  );
});

Deno.test("a completion stream that fails mid-way ends with an error chunk in OpenAI's shape", async () => {
  // Prepare: a generation that fails after its first piece (a backend error, an evicted model).
  async function* failing(): AsyncGenerator<string, Generation> {
    yield "The";
    throw new RejectedError(reject(404, "MODEL_NOT_STORED", "Cannot infer: model gone"));
  }
  async function* crashing(): AsyncGenerator<string, Generation> {
    yield "The";
    throw new Error("secret detail of a server fault");
  }
  const frames = openAiStreamFrames({ id: "cmpl-1", created: 1, model: "bafk" });

  // Execute
  const known = await events(await sseResponse(failing(), frames));
  const internal = await events(await sseResponse(crashing(), frames));

  // Assert: the chunk then `data: {error: {message, type, param, code}}`, as OpenAI's clients read.
  assert.equal((known[0]![1] as { choices: { text: string }[] }).choices[0]!.text, "The");
  assert.deepEqual(known.at(-1), ["message", {
    error: {
      message: "Cannot infer: model gone",
      type: "invalid_request_error",
      param: null,
      code: "MODEL_NOT_STORED",
    },
  }]);
  assert.deepEqual(internal.at(-1), ["message", {
    error: { message: "internal error", type: "server_error", param: null, code: "INTERNAL" },
  }]);
});

Deno.test("attacker: a stream whose reader stops reading ends its generation", async () => {
  // Found in the inference audit: a generation paused behind a reader that never read held its
  // model and cache of past tokens for as long as the connection lived.
  let ended = false;
  async function* endless(): AsyncGenerator<string, Generation> {
    try {
      for (;;) yield "x";
    } finally {
      ended = true;
    }
  }
  const frames = openAiStreamFrames({ id: "cmpl-1", created: 1, model: "bafk" });

  // Execute: one frame read, then none for longer than the idle limit.
  const res = await sseResponse(endless(), frames, undefined, 50);
  const reader = res.body!.getReader();
  assert.equal((await reader.read()).done, false);
  await new Promise((r) => setTimeout(r, 300));

  // Assert: the generation ended; the reader then sees the stream fail.
  assert.equal(ended, true);
  await assert.rejects(async () => {
    for (;;) if ((await reader.read()).done) break;
  }, /reader idle/);
});

/** Anyone may register a model and publish any CID: a stranger's account does, for `jobId`. */
async function publishAsStranger(fx: Coordinator, jobId: Hex, cid: string): Promise<void> {
  const stranger = fx.clients[2]!;
  const at = { addresses: fx.addresses };
  const name = `innocent-${cid.slice(-8)}`;
  const publisher = stranger.account.address;
  const modelId = await registerModel(stranger, { ...at, name, jobId, publisher });
  await publishModel(stranger, { ...at, modelId, cid, weightsDigest: `0x${"00".repeat(32)}` });
}

Deno.test("attacker: a published folder that links a job's private update is not served", async () => {
  // Prepare: a node's update, uploaded private as workers do (a gradient of its owner's shard).
  // Anyone may register a model and publish any CID: the attacker publishes a model folder whose
  // weights file is that update. Found in the inference audit: only the folder's own CID was
  // checked for privacy, not the files it links.
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1 });
  assert.equal(await job.nodes[0]!.worker.tick(), "trained");
  const [update] = await listValues<UpdateRecord>(s.ctx.kv, ["update", job.jobId.toLowerCase(), 0]);
  const bytes = await fx.store.get(update!.updateCid);
  const files = exportHfModel(job.spec.model, decodeCheckpoint(bytes).weights);
  const folder = (await putModelFolder(fx.store, { ...files, [WEIGHTS_FILE]: bytes })).toString();
  await publishAsStranger(fx, job.jobId, folder);

  // Execute
  const res = await read(
    await s.post("/ai/infer", { modelCid: folder, input: "The jury", maxTokens: 0 }),
  );

  // Assert: refused as private data, naming the linked file.
  assert.equal(res.status, 403, JSON.stringify(res.body));
  assert.equal(res.body.error.code, "PRIVATE_FILE");
  assert.match(res.body.error.message, new RegExp(update!.updateCid));
});

Deno.test("attacker: a published file that is no model is read once, not on every request", async () => {
  // Prepare: a stranger publishes 1 MB of bytes that are no model. Found in the inference
  // audit: each request read and decoded it again.
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const job = await s.job({ nodes: 2, rounds: 1 });
  const junk = (await fx.store.put(new Uint8Array(1 << 20).fill(7))).toString();
  await publishAsStranger(fx, job.jobId, junk);
  const reads: string[] = [];
  const get = s.ctx.store.get.bind(s.ctx.store);
  s.ctx.store.get = (c, o) => (reads.push(String(c)), get(c, o));
  try {
    // Execute
    const ask = async () =>
      await read(await s.post("/ai/infer", { modelCid: junk, input: "The jury", maxTokens: 0 }));
    const [first, second] = [await ask(), await ask()];

    // Assert: the same 422 twice, from one read.
    for (const r of [first, second]) assert.equal(r.body.error.code, "NOT_A_MODEL");
    assert.equal(reads.filter((c) => c === junk).length, 1);
  } finally {
    s.ctx.store.get = get;
  }
});

Deno.test("bad input: OpenAI completion fields this server does not implement are a 400 naming them", async () => {
  // Found in the inference audit: `n`, `stop`, `logprobs` and the rest were dropped without a
  // word (n: 3 gave one choice, a stop sequence ran on to max_tokens), and a bad value of a field
  // it does take was named by its internal name (topK) with `param: null`.
  await using fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario();
  const model = (await computeCid(new Uint8Array([1]))).toString();
  const cases: [Record<string, unknown>, string][] = [
    [{ n: 3 }, "n"],
    [{ stop: ["\n"] }, "stop"],
    [{ logprobs: 5 }, "logprobs"],
    [{ echo: true }, "echo"],
    [{ top_p: 0.5 }, "top_p"],
    [{ presence_penalty: 1 }, "presence_penalty"],
    [{ top_k: -1 }, "top_k"],
    [{ temperature: "hot" }, "temperature"],
  ];
  for (const [extra, param] of cases) {
    const res = await read(
      await s.post("/v1/completions", { model, prompt: "hi", max_tokens: 2, ...extra }),
    );
    assert.equal(res.status, 400, JSON.stringify(extra));
    assert.equal(res.body.error.param, param, JSON.stringify(res.body));
    assert.match(res.body.error.message, new RegExp(`"${param}"`));
  }
  // Their defaults ask for nothing and pass on (to the model check, here: no such model).
  const defaults = { n: 1, stop: null, logprobs: null, echo: false, top_p: 1, presence_penalty: 0 };
  const res = await read(
    await s.post("/v1/completions", { model, prompt: "hi", max_tokens: 2, ...defaults }),
  );
  assert.equal(res.status, 404, JSON.stringify(res.body));
  // Found in the inference audit: null, which OpenAI takes as the default, was a 400 for stream,
  // echo and top_p; and a model that is no CID was named by the internal field (modelCid).
  const nulls = { stream: null, echo: null, top_p: null, temperature: null, seed: null };
  const nulled = await read(
    await s.post("/v1/completions", { model, prompt: "hi", max_tokens: 2, ...nulls }),
  );
  assert.equal(nulled.status, 404, JSON.stringify(nulled.body));
  const noCid = await read(await s.post("/v1/completions", { model: "gpt-2", prompt: "hi" }));
  assert.equal(noCid.status, 400);
  assert.equal(noCid.body.error.param, "model", JSON.stringify(noCid.body));
});
