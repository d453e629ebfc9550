/**
 * The bounded spec cache, and from the side of a coordinator that names a new spec in every task
 * it offers a worker (each refused, each cached until the worker ran out of memory).
 */
import assert from "node:assert/strict";
import { encodeJobSpec, type JobSpec } from "../../../lib/job/job_spec.ts";
import { SpecCache } from "../../../lib/job/spec_cache.ts";
import { computeCid } from "../../../lib/store/cid.ts";
import { CoordinatorClient } from "../../../lib/worker/client.ts";
import { Gateway, GATEWAY_SPEC_CACHE_BYTES } from "../../../lib/worker/gateway.ts";

const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

/** A valid spec of about `bytes` bytes (its shard list pads it), told apart by `seed`. */
function specBytes(seed: number, bytes = 300): Uint8Array {
  const spec: JobSpec = {
    version: 1,
    model: { kind: "gpt", maxT: 32, layers: 1, heads: 2, width: 16 },
    batch: { B: 4, T: 32, accumSteps: 1 },
    optimizer: { lr: 3e-3, minLrRatio: 0.1, weightDecay: 0.01, gradClip: 1 },
    rounds: 3,
    localSteps: 10,
    proofEvery: 5,
    seed,
    initialWeights: CID,
    shards: Array.from({ length: Math.max(1, Math.floor(bytes / 90)) }, (_, i) => ({
      name: `brown/news-${i}`,
      cid: CID,
    })),
    validation: CID,
    aggregation: { strategy: "fedavg", quorum: 0.8, deadlineMs: 60000, clusterSize: 16 },
  };
  return encodeJobSpec(spec);
}

Deno.test("SpecCache: the least recently used go past the budget; a spec larger than it is not kept", async () => {
  const [a, b, c] = [specBytes(1), specBytes(2), specBytes(3)];
  const cache = new SpecCache(a.length + b.length + 10);
  const loads: string[] = [];
  const load = (cid: string, bytes: Uint8Array) => () => (loads.push(cid), Promise.resolve(bytes));
  assert.equal((await cache.get("a", load("a", a))).seed, 1);
  await cache.get("b", load("b", b));
  await cache.get("a", load("a", a)); // a is now the most recent
  await cache.get("c", load("c", c)); // b goes
  await cache.get("a", load("a", a));
  await cache.get("b", load("b", b)); // loaded again; c goes
  assert.deepEqual(loads, ["a", "b", "c", "b"]);
  assert.equal(cache.size, 2);
  assert.ok(cache.bytes <= a.length + b.length + 10);
  const huge = specBytes(4, 4 * a.length);
  assert.equal((await cache.get("huge", load("huge", huge))).seed, 4);
  assert.equal(cache.size, 2, "a spec larger than the budget is parsed but not kept");
  await assert.rejects(cache.get("bad", () => Promise.resolve(new Uint8Array(3))), /job spec/);
  assert.equal(cache.size, 2, "bytes that are no spec cache nothing");
});

Deno.test("attacker: a coordinator naming a new spec in every task cannot fill the worker's memory", async () => {
  // Found in the worker audit: the gateway kept every spec it parsed, and a coordinator can offer
  // a task with a new valid spec (a seed apart) every second, each refused by the worker's checks
  // and each kept: 4 MiB specs grew the heap ~6 MiB a task until V8 ran out.
  const specs = new Map<string, Uint8Array>();
  const offered: string[] = [];
  for (let i = 0; i < 40; i++) {
    const bytes = specBytes(i, 2 ** 20); // 1 MiB each, 40 MiB in all
    const cid = (await computeCid(bytes)).toString();
    specs.set(cid, bytes);
    offered.push(cid);
  }
  let downloads = 0;
  const gateway = new Gateway(
    new CoordinatorClient((input) => {
      downloads++;
      return Promise.resolve(new Response(specs.get(String(input).split("/svdb/")[1]!)!.slice()));
    }),
    { cacheBytes: 0 }, // the file cache keeps nothing: only the spec cache could hold them
  );
  for (const cid of offered) await gateway.spec(cid);
  assert.equal(downloads, 40);
  // The first specs were dropped (read again), the last are kept (not read again).
  await gateway.spec(offered[0]!);
  assert.equal(downloads, 41, "the oldest spec was not kept");
  const kept = Math.floor(GATEWAY_SPEC_CACHE_BYTES / specs.get(offered[39]!)!.length);
  assert.ok(kept >= 1 && kept < 40, `about ${kept} 1-MiB specs fit`);
  await gateway.spec(offered[39]!);
  assert.equal(downloads, 41, "a recent spec is still cached");
});
