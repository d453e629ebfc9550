import assert from "node:assert/strict";
import { defaultDegree, neighbourGraph } from "../../../../lib/privacy/secure_aggregation/graph.ts";
import {
  addMask,
  expandSeed,
  subtractMask,
} from "../../../../lib/privacy/secure_aggregation/prg.ts";

const ids = (n: number) => Array.from({ length: n }, (_, i) => `n${i}`);
const seed = (b: number) => new Uint8Array(32).fill(b);

Deno.test("graph: k-regular, symmetric, no self loops", () => {
  for (const [n, k] of [[100, 40], [1000, 60], [31, 6], [8, 7], [9, 20]]) {
    const graph = neighbourGraph(ids(n!), { seed: seed(1), degree: k! });
    const degree = Math.min(k!, n! - 1);
    for (const [u, vs] of graph) {
      assert.equal(vs.length, degree, `${u} in n=${n}`);
      assert.ok(!vs.includes(u));
      for (const v of vs) assert.ok(graph.get(v)!.includes(u), `${u}-${v} symmetric`);
    }
  }
});

Deno.test("graph: same public seed, same graph for everyone; another seed, another graph", () => {
  const a = neighbourGraph(ids(50), { seed: seed(7), degree: 10 });
  const b = neighbourGraph(ids(50), { seed: seed(7), degree: 10 });
  const c = neighbourGraph(ids(50), { seed: seed(8), degree: 10 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

Deno.test("graph: neighbourhoods are spread over the roster (random order, not index ring)", () => {
  const graph = neighbourGraph(ids(200), { seed: seed(3), degree: 8 });
  const adjacent = graph.get("n0")!.filter((v) => ["n1", "n2", "n199", "n198"].includes(v));
  assert.ok(adjacent.length < 3);
});

Deno.test("defaultDegree is even and O(log n), the complete graph for small rounds", () => {
  assert.equal(defaultDegree(2), 1);
  assert.equal(defaultDegree(8), 7);
  assert.equal(defaultDegree(100), 40);
  assert.equal(defaultDegree(1000), 60);
  assert.throws(() => neighbourGraph(ids(10), { seed: seed(0), degree: 3 }), /even/);
  assert.throws(() => neighbourGraph(["a", "a", "b"], { seed: seed(0), degree: 2 }), /repeated/);
});

Deno.test("PRG: deterministic per seed, uniform words, masks cancel mod 2^32", async () => {
  // Prepare
  const s = crypto.getRandomValues(new Uint8Array(32));
  // Execute
  const [a, b, other] = [
    await expandSeed(s, 1 << 16),
    await expandSeed(s, 1 << 16),
    await expandSeed(seed(1), 1 << 16),
  ];
  // Assert
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, other);
  const bins = new Array(16).fill(0);
  for (const w of a) bins[w >>> 28]++;
  const e = a.length / 16;
  assert.ok(bins.reduce((c, x) => c + (x - e) ** 2 / e, 0) < 37.7, "chi2, 15 dof, 99.9%");
  const v = Uint32Array.from([0, 1, 2 ** 32 - 1]);
  await addMask(v, s);
  await subtractMask(v, s);
  assert.deepEqual(Array.from(v), [0, 1, 2 ** 32 - 1]);
  await assert.rejects(() => expandSeed(new Uint8Array(16), 4), TypeError);
});

Deno.test("PRG: a prefix of a longer expansion (AES-CTR keystream from counter 0)", async () => {
  const long = await expandSeed(seed(9), 1000);
  const short = await expandSeed(seed(9), 10);
  assert.deepEqual(short, long.subarray(0, 10));
});
