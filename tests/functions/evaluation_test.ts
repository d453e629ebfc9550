/**
 * Evaluation that means something: every shard's (data owner's) held-out bytes are evaluated,
 * whole when small and by a stratified sample with its error bar when large; the job record keeps
 * each shard's loss, and the improvement paid for is the mean over shards.
 */
import assert from "node:assert/strict";
import { evalBatches } from "../../kernel/data.ts";
import { initWeights, paramLayout } from "../../kernel/params.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import { genreLine } from "../../demo.ts";
import { improvementBps } from "../../lib/coordinator/finalize.ts";
import {
  evaluateStrata,
  evaluateWeights,
  loadSpec,
  loadWeights,
  processTrainer,
  spreadIndices,
  VAL_ROWS,
  validationStrata,
} from "../../lib/coordinator/job.ts";
import type { JobRecord } from "../../lib/coordinator/state.ts";
import { encodeJobSpec, parseJobSpec, roundHyper } from "../../lib/job/job_spec.ts";
import { read, setupCoordinator, TINY_BATCH, TINY_MODEL } from "./_coordinator.ts";

const { B, T } = TINY_BATCH;
const hyper = {
  ...roundHyper(
    {
      model: TINY_MODEL,
      batch: { ...TINY_BATCH, accumSteps: 1 },
      optimizer: { lr: 1e-3, minLrRatio: 1, weightDecay: 0, gradClip: 1 },
      rounds: 1,
    } as never,
    0,
  ),
  accumSteps: 1,
};

/**
 * Every batch of every stratum, by kernel/data.ts evalBatches of `rows` sequences and the kernel's
 * evalLoss.
 */
function directShardLoss(weights: Float32Array, strata: Uint8Array[], rows = B): number[] {
  const t = processTrainer();
  return strata.map((s) => {
    const bs = evalBatches(s, rows, T, Infinity);
    return bs.reduce((a, b) => a + t.evalLoss(weights, b, { ...hyper, B: rows }), 0) / bs.length;
  });
}

function text(seed: number, n: number): Uint8Array {
  const words = ["the ", "jury ", "said ", "harbour ", "boats ", "blue. ", "she ", "walked "];
  let x = seed, out = "";
  while (out.length < n) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out += words[x % words.length];
  }
  return new TextEncoder().encode(out.slice(0, n));
}

Deno.test("evaluation: small sets are evaluated whole, per shard, with no error bar", () => {
  const weights = initWeights(loadKernel(), paramLayout(TINY_MODEL), 7);
  const strata = [text(1, 300), text(2, 200), text(3, 100)];
  const e = evaluateStrata(weights, strata, hyper, { evalLoss: processTrainer().evalLoss });
  const direct = directShardLoss(weights, strata);
  assert.deepEqual(e.shardLoss, direct);
  assert.equal(e.loss, direct.reduce((a, x) => a + x, 0) / 3);
  assert.equal(e.stdErr, 0);
  assert.equal(e.batches, e.available);
});

Deno.test("evaluation: a large set is sampled in every shard, spread evenly, with an error bar", () => {
  const weights = initWeights(loadKernel(), paramLayout(TINY_MODEL), 7);
  const strata = [text(1, 4000), text(2, 2000), text(3, 100)];
  const seen: number[] = [];
  const evalLoss = (w: Float32Array, b: { tokens: Int32Array; targets: Int32Array }) => {
    seen.push(b.tokens.length);
    return processTrainer().evalLoss(w, b, hyper);
  };
  const e = evaluateStrata(weights, strata, hyper, { evalLoss, budget: 12 });
  // 124 + 62 + 3 batches available; 4 per shard (the third has only 3: all of them).
  assert.equal(e.available, 124 + 62 + 3);
  assert.equal(e.batches, 4 + 4 + 3);
  assert.equal(e.shardLoss.length, 3);
  assert.ok(e.stdErr > 0 && e.stdErr < 0.5, `stdErr ${e.stdErr}`);
  assert.deepEqual(spreadIndices(124, 4), [15, 46, 77, 108]);
  assert.deepEqual(spreadIndices(3, 4), [0, 1, 2]);
  const sampled = spreadIndices(62, 4).map((i) =>
    evalBatches(strata[1]!.subarray(i * B * T), B, T, 1)[0]!
  );
  const direct = sampled.reduce((a, b) => a + processTrainer().evalLoss(weights, b, hyper), 0) / 4;
  assert.equal(e.shardLoss[1], direct);
  // The sample's mean is near the whole set's: within a few standard errors.
  const whole = directShardLoss(weights, strata);
  const wholeMean = whole.reduce((a, x) => a + x, 0) / 3;
  assert.ok(Math.abs(e.loss - wholeMean) < 4 * e.stdErr + 1e-3, `${e.loss} vs ${wholeMean}`);
  // Deterministic: the same bytes give the same losses.
  assert.deepEqual(evaluateStrata(weights, strata, hyper, { evalLoss, budget: 12 }), e);
});

Deno.test("evaluation: a shard shorter than one batch is evaluated whole as fewer rows", () => {
  const weights = initWeights(loadKernel(), paramLayout(TINY_MODEL), 7);
  const short = text(4, 2 * T + 1);
  const e = evaluateStrata(weights, [text(1, 300), short], hyper, {
    evalLoss: processTrainer().evalLoss,
  });
  const rows = evalBatches(short, 2, T, 1)[0]!;
  assert.equal(e.shardLoss[1], processTrainer().evalLoss(weights, rows, { ...hyper, B: 2 }));
  assert.throws(
    () => evaluateStrata(weights, [text(1, T)], hyper, { evalLoss: processTrainer().evalLoss }),
    RangeError,
  );
});

Deno.test("evaluation: validationShards cut the set; old specs are one stratum; strict in the spec", () => {
  const val = new Uint8Array(10);
  assert.deepEqual(validationStrata({ validationShards: [4, 6] }, val).map((s) => s.length), [
    4,
    6,
  ]);
  assert.deepEqual(validationStrata({}, val).map((s) => s.length), [10]);
  assert.throws(() => validationStrata({ validationShards: [4, 5] }, val), RangeError);
});

Deno.test("evaluation: improvementBps is on the mean over shards", () => {
  const job = { initialValLoss: 5, metrics: [{ valLoss: 4, shardLoss: [3, 5] }] } as JobRecord;
  assert.equal(improvementBps(job), 2_000);
  const worse = { initialValLoss: 4, metrics: [{ valLoss: 4, shardLoss: [3, 6] }] } as JobRecord;
  assert.equal(improvementBps(worse), 0);
});

Deno.test("evaluation: the demo summary names the worst genre and the mean", () => {
  const job = {
    initialValLoss: 5.5,
    initialShardLoss: [5.5, 5.6, 5.4],
    metrics: [{ valLoss: 3, shardLoss: [2.5, 3.5, 3], valStdErr: 0.01 }],
  } as JobRecord;
  const line = genreLine(job, ["brown/news", "brown/humor", "brown/lore"]);
  assert.match(line, /worst brown\/humor 5\.6000 -> 3\.5000/);
  assert.match(line, /mean 3\.0000 ± 0\.0100/);
  assert.match(line, /best 2\.5000 over 3 genres/);
  assert.match(genreLine({ ...job, metrics: [{ valLoss: 3 }] } as JobRecord, []), /not recorded/);
});

Deno.test({
  name:
    "evaluation: a closed round records every shard's loss, consistent with a direct computation, whatever batch the job trains on",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using fx = await setupCoordinator();
    const s = await fx.scenario();
    const job = await s.job({ nodes: 3, rounds: 1 });
    assert.equal(job.spec.validationShards?.length, 3);
    assert.deepEqual(parseJobSpec(encodeJobSpec(job.spec)), job.spec);
    await s.deliver(job, job.nodes);
    const [out] = (await read(await s.post("/aggregate", { jobId: job.jobId }))).body;
    assert.equal(out.status, "closed");
    const rec = await s.jobRecord(job.jobId);
    const m = rec.metrics[0]!;
    const spec = await loadSpec(s.ctx.store, rec.specCid);
    const strata = validationStrata(spec, await s.ctx.store.get(spec.validation));
    const weights = await loadWeights(s.ctx.store, m.checkpointCid);
    const direct = directShardLoss(weights, strata, VAL_ROWS);
    assert.deepEqual(m.shardLoss, direct);
    assert.notEqual(spec.batch.B, VAL_ROWS, "the job trains on another batch");
    for (const B of [1, 8]) {
      const at = { ...spec, batch: { ...spec.batch, B } };
      assert.deepEqual((await evaluateWeights(s.ctx.store, at, weights)).shardLoss, direct);
    }
    assert.equal(m.valLoss, direct.reduce((a, x) => a + x, 0) / direct.length);
    assert.equal(m.valStdErr, 0, "a tiny set is evaluated whole");
    const initial = await loadWeights(s.ctx.store, spec.initialWeights);
    const before = directShardLoss(initial, strata, VAL_ROWS);
    assert.deepEqual(rec.initialShardLoss, before);
    assert.equal(rec.initialValLoss, before.reduce((a, x) => a + x, 0) / before.length);
  },
});

Deno.test("job spec: validationShards must give a positive byte count for every shard", () => {
  const base = {
    version: 1,
    model: TINY_MODEL,
    batch: { ...TINY_BATCH, accumSteps: 1 },
    optimizer: { lr: 3e-3, minLrRatio: 0.1, weightDecay: 0.01, gradClip: 1 },
    rounds: 1,
    localSteps: 1,
    proofEvery: 1,
    seed: 1,
    initialWeights: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
    shards: [
      { name: "a", cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy" },
      { name: "b", cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy" },
    ],
    validation: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
    aggregation: { strategy: "fedavg", quorum: 0.8, deadlineMs: 1000, clusterSize: 16 },
  };
  const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  assert.equal(parseJobSpec(bytes(base)).validationShards, undefined);
  assert.deepEqual(parseJobSpec(bytes({ ...base, validationShards: [3, 4] })).validationShards, [
    3,
    4,
  ]);
  for (const bad of [[3], [3, 0], [3, 1.5], "3,4", [3, -1]]) {
    assert.throws(
      () => parseJobSpec(bytes({ ...base, validationShards: bad })),
      /validationShards/,
    );
  }
});
