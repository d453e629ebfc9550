import assert from "node:assert/strict";
import { Gateway, MAX_CHECKPOINT_HEADER_BYTES, MAX_SPEC_BYTES } from "../../lib/worker/gateway.ts";
import { CoordinatorClient, MAX_JSON_BYTES } from "../../lib/worker/client.ts";
import { computeCid } from "../../lib/store/cid.ts";
import { encodeCheckpoint } from "../../lib/model/checkpoint.ts";
import { paramLayout } from "../../kernel/params.ts";

/** A gateway over files of the given sizes; `fetched` lists each download's CID. */
async function gatewayOver(sizes: number[], cacheBytes: number) {
  const files = new Map<string, Uint8Array>();
  for (const [i, size] of sizes.entries()) {
    const bytes = new Uint8Array(size).fill(i + 1);
    files.set((await computeCid(bytes)).toString(), bytes);
  }
  const fetched: string[] = [];
  const client = new CoordinatorClient((input) => {
    const cid = String(input).split("/svdb/")[1]!;
    fetched.push(cid);
    return Promise.resolve(new Response(files.get(cid)!.slice()));
  });
  return { gateway: new Gateway(client, { cacheBytes }), cids: [...files.keys()], fetched };
}

Deno.test("gateway cache: least recently used go first, a file larger than the cache is not kept", async () => {
  // Prepare: a 100-byte cache; files of 40, 40, 40 and 150 bytes
  const { gateway, cids: [a, b, c, big], fetched } = await gatewayOver([40, 40, 40, 150], 100);
  // Execute
  await gateway.get(a!);
  await gateway.get(b!);
  await gateway.get(a!); // a is now the most recent
  await gateway.get(c!); // 120 > 100: b (least recent) goes
  await gateway.get(a!);
  await gateway.get(b!); // fetched again; c goes
  await gateway.get(big!);
  await gateway.get(big!); // never kept
  // Assert
  assert.deepEqual(fetched, [a, b, c, b, big, big]);
  assert.equal((await gateway.get(a!)).length, 40);
  assert.equal(fetched.length, 6, "a stayed cached throughout");
});

Deno.test("gateway weights: a checkpoint streams into the CID check and the decode; wrong bytes are refused", async () => {
  // Prepare: a checkpoint larger than the cache, and a gateway that serves other bytes for it
  const model = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
  const weights = Float32Array.from({ length: paramLayout(model).size }, (_, i) => i / 7);
  const bytes = encodeCheckpoint(model, weights);
  const cid = (await computeCid(bytes)).toString();
  const serve = (body: Uint8Array) =>
    new Gateway(
      new CoordinatorClient(() => {
        // Served in 100-byte pieces, as a network would.
        const pieces = Array.from(
          { length: Math.ceil(body.length / 100) },
          (_, i) => body.slice(i * 100, i * 100 + 100),
        );
        return Promise.resolve(new Response(ReadableStream.from(pieces)));
      }),
      { cacheBytes: 10 },
    );
  const tampered = bytes.slice();
  tampered[bytes.length - 1]! ^= 1;
  // Execute, Assert
  assert.deepEqual(await serve(bytes).weights(cid), weights);
  await assert.rejects(
    serve(tampered).weights(cid),
    /Cannot trust .*: the gateway returned bytes of/,
  );
  await assert.rejects(serve(new Uint8Array(5)).weights(cid), /Cannot trust/);
});

/** A body of 64 KiB chunks that never ends (and no length); `pulled()` counts what was read. */
function endless(): { body: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += 65_536;
      controller.enqueue(new Uint8Array(65_536).fill(32));
    },
  });
  return { body, pulled: () => pulled };
}

Deno.test("attacker: a coordinator's endless body is cut at the download's limit, not read into memory", async () => {
  // Prepare: a coordinator that answers every GET with an endless body.
  let pulled = () => 0;
  const client = new CoordinatorClient(() => {
    const stream = endless();
    pulled = stream.pulled;
    return Promise.resolve(new Response(stream.body));
  });
  const gateway = new Gateway(client);
  const cid = (await computeCid(new Uint8Array([1]))).toString();

  // Execute + Assert: a spec stops past MAX_SPEC_BYTES, a task (JSON) past MAX_JSON_BYTES, any
  // other file past the limit it is asked with.
  await assert.rejects(gateway.spec(cid), /larger than 4194304 bytes/);
  assert.ok(pulled() <= MAX_SPEC_BYTES + 4 * 65_536, `read ${pulled()}`);
  await assert.rejects(client.getJson("/assign?node=x"), /larger than 16777216 bytes/);
  assert.ok(pulled() <= MAX_JSON_BYTES + 4 * 65_536, `read ${pulled()}`);
  await assert.rejects(gateway.get(cid, 1_000_000), /larger than 1000000 bytes/);
  assert.ok(pulled() <= 1_000_000 + 4 * 65_536, `read ${pulled()}`);
});

Deno.test("attacker: a coordinator's endless checkpoint is cut past what the job's model can take", async () => {
  // Found in the worker audit: the weights' download streams into the CID check, which read every
  // byte an endless body sent (28.7 GiB in 110 s before it was killed), with no cap.
  let pulled = () => 0;
  const gateway = new Gateway(
    new CoordinatorClient(() => {
      const stream = endless();
      pulled = stream.pulled;
      return Promise.resolve(new Response(stream.body));
    }),
  );
  const cid = (await computeCid(new Uint8Array([1]))).toString();
  const model = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
  const max = 4 * paramLayout(model).size + MAX_CHECKPOINT_HEADER_BYTES;

  // Execute + Assert
  await assert.rejects(gateway.weights(cid, model), new RegExp(`larger than ${max} bytes`));
  assert.ok(pulled() <= max + 8 * 65_536, `read ${pulled()}`);
});

Deno.test("attacker: an upload answer naming another file is refused, so the worker never signs it as its own", async () => {
  // Prepare: a gateway whose upload answer is rewritten (a man in the middle, or a coordinator
  // lying) to name the job's checkpoint instead of the cluster mean just sent.
  const mean = new Uint8Array(64).fill(3);
  const other = (await computeCid(new Uint8Array(64).fill(9))).toString();
  const answer = (cid: string) =>
    new Gateway(
      new CoordinatorClient(() => Promise.resolve(Response.json({ cid }, { status: 201 }))),
    );

  // Execute + Assert: the rewritten answer throws; a true one gives the bytes' own CID.
  await assert.rejects(() => answer(other).put(mean), /Cannot trust the gateway/);
  const own = (await computeCid(mean)).toString();
  assert.equal(await answer(own).put(mean), own);
});

Deno.test("attacker: an endless upload answer is cut at the JSON limit, not read into memory", async () => {
  // Found in the second worker audit: the answer to every upload (each round's update, cluster
  // means, masked inputs) was read with res.json(), whole and unbounded: a coordinator streaming
  // gigabytes until the client's timeout killed the worker's process and its round.
  let pulled = () => 0;
  const gateway = new Gateway(
    new CoordinatorClient(() => {
      const stream = endless();
      pulled = stream.pulled;
      return Promise.resolve(new Response(stream.body, { status: 201 }));
    }),
  );

  // Execute + Assert
  await assert.rejects(gateway.put(new Uint8Array(64).fill(3)), /larger than 16777216 bytes/);
  assert.ok(pulled() <= MAX_JSON_BYTES + 4 * 65_536, `read ${pulled()}`);
});

Deno.test("attacker: a checkpoint whose header names a huge model is refused from the job's model, before any allocation", async () => {
  // Prepare: a valid safetensors header whose own metadata claims 2e9 layers, then garbage; the
  // job's model is tiny.
  const model = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
  const huge = { ...model, layers: 2_000_000_000 };
  const header = new TextEncoder().encode(
    JSON.stringify({ __metadata__: { "artha.model": JSON.stringify(huge) } }),
  );
  const file = new Uint8Array(8 + header.length + 64);
  new DataView(file.buffer).setBigUint64(0, BigInt(header.length), true);
  file.set(header, 8);
  const cid = (await computeCid(file)).toString();
  const gateway = new Gateway(
    new CoordinatorClient(() => Promise.resolve(new Response(file.slice()))),
  );

  // Execute + Assert: read as the job's model, it is simply not one of its checkpoints.
  await assert.rejects(gateway.weights(cid, model), /not one of the job's model/);
});

Deno.test("attacker: a coordinator answering a DID's resolution with an empty body is not asked without end", async () => {
  // Found reading the retry of a lagging coordinator's 404: the loop ran until an answer came, so
  // an empty 200 body (undefined, no answer) had `dataset did --gateway` ask for ever.
  const bytes = new TextEncoder().encode('{"id":"did:artha:ab"}');
  const cid = (await computeCid(bytes)).toString();
  let resolves = 0;
  const client = new CoordinatorClient((path) => {
    if (path.startsWith("/did/resolve")) {
      resolves++;
      return Promise.resolve(new Response(""));
    }
    return Promise.resolve(Response.json({ cid }));
  });
  await assert.rejects(
    new Gateway(client).storeDidDocument(bytes, "did:artha:ab", 1),
    /Cannot trust the gateway: it resolves did:artha:ab to undefined/,
  );
  assert.equal(resolves, 1);
});
