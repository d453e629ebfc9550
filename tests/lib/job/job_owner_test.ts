import assert from "node:assert/strict";
import { prepareJob } from "../../../lib/job/job_owner.ts";
import { parseJobSpec } from "../../../lib/job/job_spec.ts";
import { Store } from "../../../lib/store/store.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";

const text = new TextEncoder().encode("the quick brown fox jumps over the lazy dog. ".repeat(40));
const options = {
  model: { kind: "gpt" as const, maxT: 16, layers: 1, heads: 2, width: 16 },
  shards: [{ name: "a", train: text, val: text }, { name: "b", train: text, val: text }],
  rounds: 2,
  localSteps: 2,
  B: 2,
  T: 16,
};

Deno.test("prepareJob stores a spec that parses back to itself", async () => {
  const store = new Store(new MemoryBlockstore());
  const { spec, specCid } = await prepareJob(store, {
    ...options,
    compression: { codec: "partition", parts: 4 },
  });
  assert.deepEqual(parseJobSpec(await store.get(specCid)), spec);
  assert.equal(spec.compression?.parts, 4);
});

Deno.test("prepareJob refuses an invalid spec before storing it (before any escrow)", async () => {
  const store = new Store(new MemoryBlockstore());
  let stored = 0;
  const put = store.put.bind(store);
  store.put = (bytes: Uint8Array) => {
    if (new TextDecoder().decode(bytes.subarray(0, 1)) === "{") stored++;
    return put(bytes);
  };
  await assert.rejects(
    prepareJob(store, { ...options, compression: { codec: "partition", parts: 1 } }),
    /Cannot read job spec: compression\.parts must be an integer in \[2, 65535\]/,
  );
  await assert.rejects(
    prepareJob(store, { ...options, robust: { strategy: "median", beta: 0.9 } }),
    /robust\.beta/,
  );
  assert.equal(stored, 0, "no spec was stored");
});
