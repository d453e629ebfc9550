import assert from "node:assert/strict";
import { accountUploadSigner } from "../../lib/store/upload_signature.ts";
import { postSigned, read, setupCoordinator } from "./_coordinator.ts";

Deno.test("router", async (t) => {
  await using fx = await setupCoordinator({ operators: 2 });
  const s = await fx.scenario();

  await t.step(
    "a whole job runs through the router: register, assign, train, aggregate, finalize",
    async () => {
      const job = await s.job({ nodes: 2, rounds: 2 }); // nodes POST /register, owner POST /assign
      for (let round = 0; round < 2; round++) {
        for (const n of job.nodes) assert.equal(await n.worker.tick(), "trained");
        for (const n of job.nodes) assert.equal(await n.worker.tick(), "wait");
        const [out] = (await read(await s.post("/aggregate/", { jobId: job.jobId }))).body;
        assert.equal(out.status, "closed");
        assert.equal(out.reason, "complete");
      }
      for (const n of job.nodes) assert.equal(await n.worker.tick(), "idle");
      const [fin] = (await read(await s.post("/finalize", { jobId: job.jobId }))).body;
      assert.equal(fin.status, "finalized");
      const status = await read(await s.call(`/status?job=${job.jobId}`));
      assert.equal(status.body.metrics.length, 2);
      const infer = await read(
        await s.post("/ai/infer", { modelCid: fin.globalCid, input: "hello there, world" }),
      );
      assert.equal(infer.status, 200);
      const ckpt = await s.call(`/svdb/${fin.globalCid}`);
      assert.equal(ckpt.status, 200);
      await ckpt.body?.cancel();
    },
  );

  await t.step("every route answers a wrong method with 405", async () => {
    const cases: [string, string][] = [
      ["/register", "GET"],
      ["/assign", "DELETE"],
      ["/aggregate", "GET"],
      ["/aggregate/update", "GET"],
      ["/finalize", "GET"],
      ["/status", "POST"],
      ["/svdb", "PUT"],
      ["/ai/infer", "GET"],
    ];
    for (const [path, method] of cases) {
      const res = await read(await s.call(path, { method }));
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.match(res.body.error.message, /^Cannot /);
    }
  });

  await t.step("unknown routes are a JSON 404 naming the path", async () => {
    for (const path of ["/nope", "/registerx", "/aggregate/update/more", "/ai", "/svdb/a/b"]) {
      const res = await s.call(path);
      assert.equal(res.status, 404, path);
      assert.match(res.headers.get("content-type") ?? "", /application\/json/);
      assert.deepEqual((await res.json()).error, {
        code: "UNKNOWN_ROUTE",
        message: `Cannot route ${path}`,
      });
    }
  });

  await t.step(
    "errors are JSON with a code and a message, internal errors a bare 500",
    async () => {
      const res = await s.call("/status?job=0x1");
      assert.equal(res.status, 400);
      assert.deepEqual(await res.json(), {
        error: { code: "BAD_REQUEST", message: 'Invalid query "job": expected 32-byte hex' },
      });
      // A store that fails underneath: the router answers 500 without the internal message.
      const broken = await fx.scenario();
      const original = broken.ctx.store.put.bind(broken.ctx.store);
      broken.ctx.store.put = () => Promise.reject(new Error("disk on fire"));
      const log = console.error;
      console.error = () => {};
      try {
        const uploader = accountUploadSigner(fx.coordinator);
        const r = await postSigned(broken, uploader, new Uint8Array([1]));
        assert.equal(r.status, 500);
        assert.deepEqual(await r.json(), {
          error: { code: "INTERNAL", message: "internal error" },
        });
      } finally {
        console.error = log;
        broken.ctx.store.put = original;
      }
    },
  );
});
