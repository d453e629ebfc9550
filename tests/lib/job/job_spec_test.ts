import assert from "node:assert/strict";
import {
  encodeJobSpec,
  type JobSpec,
  jobSpecHash,
  parseJobSpec,
  roundHyper,
  taskSeed,
} from "../../../lib/job/job_spec.ts";
import { prepareJob } from "../../../lib/job/job_owner.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";
import { Store } from "../../../lib/store/store.ts";
import { learningRate } from "../../../kernel/schedule.ts";

const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
const CID2 = "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

/** Equal to within floating-point rounding (the cosine is a Taylor series in f64). */
function near(actual: number, expected: number, what = ""): void {
  assert.ok(Math.abs(actual - expected) <= 1e-12 * Math.abs(expected), `${what}: ${actual}`);
}

function validSpec(): JobSpec {
  return {
    version: 1,
    model: { kind: "gpt", maxT: 32, layers: 1, heads: 2, width: 16 },
    batch: { B: 4, T: 32, accumSteps: 1 },
    optimizer: { lr: 3e-3, minLrRatio: 0.1, weightDecay: 0.01, gradClip: 1 },
    rounds: 5,
    localSteps: 10,
    proofEvery: 5,
    seed: 1,
    initialWeights: CID,
    shards: [{ name: "brown/news", cid: CID }, { name: "brown/fiction", cid: CID2 }],
    validation: CID,
    aggregation: { strategy: "fedavg", quorum: 0.8, deadlineMs: 60_000, clusterSize: 16 },
  };
}

/** The spec with `patch` applied as JSON (so invalid values can be written), as bytes. */
function bytesWith(patch: Record<string, unknown>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ ...validSpec(), ...patch }));
}

/** Asserts that parsing `patch` fails with a TypeError whose message matches `field`. */
function refuses(patch: Record<string, unknown>, field: RegExp): void {
  assert.throws(
    () => parseJobSpec(bytesWith(patch)),
    (e: unknown) => {
      assert.ok(e instanceof TypeError, `${JSON.stringify(patch)}: ${e}`);
      assert.match(e.message, /^Cannot read job spec: /);
      assert.match(e.message, field, JSON.stringify(patch));
      return true;
    },
  );
}

Deno.test("job spec: a valid spec round-trips through encode and parse", () => {
  const spec: JobSpec = {
    ...validSpec(),
    optimizer: { kind: "sgd", lr: 0.3, minLrRatio: 0.1, weightDecay: 0, gradClip: 1 },
    aggregation: {
      strategy: "diloco",
      quorum: 0.5,
      deadlineMs: 1_000,
      clusterSize: 4,
      hierarchical: true,
      clusterAudit: 0.25,
      layers: { "wte": { freeze: true }, "h0.*": { weight: 0.5 } },
      outerLr: 0.7,
      outerMomentum: 0.9,
    },
    compression: { codec: "partition", parts: 4 },
    asynchronous: { maxStaleness: 3 },
    verification: { redundancy: 2, challengeRate: 0.5, sampleRate: 0.02, spotCheckRate: 0.1 },
  };
  const bytes = encodeJobSpec(spec);
  const parsed = parseJobSpec(bytes);
  assert.deepEqual(parsed, spec);
  // Canonical: re-encoding gives the same bytes, hence the same paramsHash.
  assert.deepEqual(encodeJobSpec(parsed), bytes);
  assert.equal(jobSpecHash(parsed), jobSpecHash(spec));
});

Deno.test("job spec: encoding sorts keys and drops undefined, so key order does not matter", () => {
  const spec = validSpec();
  const reordered = Object.fromEntries(Object.entries(spec).reverse()) as unknown as JobSpec;
  assert.deepEqual(encodeJobSpec(reordered), encodeJobSpec(spec));
  assert.equal(jobSpecHash(reordered), jobSpecHash(spec));
  const withUndefined = { ...spec, compression: undefined, robust: undefined };
  assert.equal(jobSpecHash(withUndefined), jobSpecHash(spec));
  const text = new TextDecoder().decode(encodeJobSpec(spec));
  assert.ok(text.indexOf('"aggregation"') < text.indexOf('"batch"'), text);
  assert.ok(!text.includes("compression"), text);
  // A different value gives a different hash.
  assert.notEqual(jobSpecHash({ ...spec, rounds: 6 }), jobSpecHash(spec));
});

Deno.test("job spec: a spec made by prepareJob round-trips", async () => {
  const store = new Store(new MemoryBlockstore());
  const text = new TextEncoder().encode("a tiny corpus of words. ".repeat(50));
  const other = new TextEncoder().encode("another tiny corpus here. ".repeat(50));
  const { spec, specCid } = await prepareJob(store, {
    model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
    shards: [{ name: "a", train: text, val: text }, { name: "b", train: other, val: other }],
    rounds: 3,
    localSteps: 2,
    B: 2,
    T: 16,
  });
  assert.equal(spec.shards.length, 2);
  assert.notEqual(spec.shards[0]!.cid, spec.shards[1]!.cid);
  const stored = await store.get(specCid);
  assert.deepEqual(stored, encodeJobSpec(spec));
  assert.deepEqual(parseJobSpec(stored), spec);
});

Deno.test("job spec: bytes that are not JSON are refused", () => {
  assert.throws(
    () => parseJobSpec(new TextEncoder().encode("{not json")),
    (e: unknown) => e instanceof TypeError && e.message === "Cannot read job spec: not JSON",
  );
});

Deno.test("job spec: invalid core fields are refused, naming the field", () => {
  refuses({ version: 2 }, /version must be 1/);
  refuses({ model: { kind: "rnn", maxT: 32, layers: 1, heads: 2, width: 16 } }, /model\.kind/);
  refuses({ batch: { B: 0, T: 32, accumSteps: 1 } }, /batch sizes/);
  refuses({ batch: { B: 4, T: 64, accumSteps: 1 } }, /batch\.T must not exceed model\.maxT/);
  const o = validSpec().optimizer;
  refuses({ optimizer: { ...o, lr: -1 } }, /optimizer\.lr/);
  refuses({ optimizer: { ...o, minLrRatio: 1.5 } }, /optimizer\.lr/);
  refuses({ optimizer: { ...o, kind: "lion" } }, /optimizer\.kind must be adamw or sgd/);
  refuses({ optimizer: { ...o, weightDecay: 2 } }, /optimizer/);
  refuses({ rounds: 0 }, /rounds/);
  refuses({ rounds: 100_001 }, /rounds/);
  refuses({ localSteps: 1.5 }, /localSteps\/proofEvery/);
  refuses({ seed: 2 ** 32 }, /seed must be a u32/);
  refuses({ seed: -1 }, /seed must be a u32/);
  refuses({ shards: [] }, /shards must be a non-empty list/);
  refuses({ shards: [{ cid: CID }] }, /shards\[0\]\.name must be a string/);
  refuses({ shards: [{ name: "a", cid: CID }, { name: "b", cid: "nope" }] }, /shards\[1\]\.cid/);
  refuses({ initialWeights: "Qm-not-a-cid" }, /initialWeights: /);
  refuses({ validation: 42 }, /validation: /);
  refuses({ model: { kind: "gpt", maxT: 32, layers: 1, heads: 3, width: 16 } }, /model: /);
  for (const k of ["compression", "robust", "asynchronous", "privacy", "verification"]) {
    refuses({ [k]: null }, new RegExp(`${k} must be an object when present`));
    refuses({ [k]: [1] }, new RegExp(`${k} must be an object when present`));
  }
});

Deno.test("job spec: invalid aggregation fields are refused, naming the field", () => {
  const a = validSpec().aggregation;
  refuses({ aggregation: { ...a, strategy: "fedprox" } }, /aggregation\.strategy/);
  refuses({ aggregation: { ...a, quorum: 0 } }, /aggregation/);
  refuses({ aggregation: { ...a, quorum: 1.01 } }, /aggregation/);
  refuses({ aggregation: { ...a, hierarchical: "yes" } }, /aggregation\.hierarchical/);
  refuses({ aggregation: { ...a, clusterAudit: 1.5 } }, /aggregation\.clusterAudit/);
  refuses({ aggregation: { ...a, layers: { wte: { weight: 11 } } } }, /aggregation\.layers\.wte/);
  refuses({ aggregation: { ...a, layers: { "h0.*": { freeze: 1 } } } }, /aggregation\.layers\.h0/);
  refuses({ aggregation: { ...a, layers: { wpe: null } } }, /aggregation\.layers\.wpe/);
});

Deno.test("job spec: invalid compression settings are refused, naming the field", () => {
  refuses({ compression: { codec: "gzip" } }, /compression\.codec must be one of/);
  refuses({ compression: { codec: "topk", fraction: 0 } }, /compression\.fraction/);
  refuses({ compression: { codec: "topk", fraction: 1.5 } }, /compression\.fraction/);
  refuses({ compression: { codec: "topk", fraction: "0.1" } }, /compression\.fraction/);
  for (const parts of [1, 2.5, 70_000, 0, -4]) {
    refuses(
      { compression: { codec: "partition", parts } },
      /compression\.parts must be an integer in \[2, 65535\]/,
    );
  }
});

Deno.test("job spec: every codec, partition included, combines with robust aggregation", () => {
  // Partition runs the robust rule per part (lib/strategy/partitioned.ts).
  for (const codec of ["partition", "int8", "topk-int8"] as const) {
    const ok = parseJobSpec(
      bytesWith({ compression: { codec, parts: 4 }, robust: { strategy: "median" } }),
    );
    assert.equal(ok.robust?.strategy, "median");
    assert.equal(ok.compression?.codec, codec);
  }
});

Deno.test("job spec: partition compression with a valid parts count is accepted", () => {
  const s = parseJobSpec(bytesWith({ compression: { codec: "partition", parts: 8 } }));
  assert.deepEqual(s.compression, { codec: "partition", parts: 8 });
  for (const parts of [2, 65_535]) {
    const edge = parseJobSpec(bytesWith({ compression: { codec: "partition", parts } }));
    assert.equal(edge.compression?.parts, parts);
  }
  // parts is optional (the codec defaults to 8).
  const dflt = parseJobSpec(bytesWith({ compression: { codec: "partition" } }));
  assert.equal(dflt.compression?.parts, undefined);
});

Deno.test("job spec: invalid robust settings are refused, naming the field", () => {
  refuses({ robust: { strategy: "mean" } }, /robust\.strategy must be one of/);
  refuses({ robust: { strategy: "krum", f: -1 } }, /robust\.f/);
  refuses({ robust: { strategy: "krum", f: 1.5 } }, /robust\.f/);
  refuses({ robust: { strategy: "trimmed-mean", beta: 0.5 } }, /robust\.beta/);
  for (const strategy of ["median", "trimmed-mean", "krum", "multi-krum", "bulyan"]) {
    assert.equal(
      parseJobSpec(bytesWith({ robust: { strategy, f: 2 } })).robust?.strategy,
      strategy,
    );
  }
});

Deno.test("job spec: invalid asynchronous and privacy settings are refused", () => {
  for (const maxStaleness of [0, 11, 2.5]) {
    refuses({ asynchronous: { maxStaleness } }, /asynchronous\.maxStaleness must be 1-10/);
  }
  for (const maxStaleness of [1, 10]) {
    assert.equal(
      parseJobSpec(bytesWith({ asynchronous: { maxStaleness } })).asynchronous?.maxStaleness,
      maxStaleness,
    );
  }
  const p = { clip: 1, noiseMultiplier: 1.1, delta: 1e-5, maxEpsilon: 8 };
  assert.deepEqual(parseJobSpec(bytesWith({ privacy: p })).privacy, p);
  refuses({ privacy: { ...p, clip: 0 } }, /privacy\.clip\/noiseMultiplier/);
  refuses({ privacy: { ...p, noiseMultiplier: -1 } }, /privacy\.clip\/noiseMultiplier/);
  refuses({ privacy: { ...p, delta: 0.6 } }, /privacy\.delta\/maxEpsilon/);
  refuses({ privacy: { ...p, maxEpsilon: 0 } }, /privacy\.delta\/maxEpsilon/);
  refuses(
    { privacy: p, robust: { strategy: "median" } },
    /privacy and robust cannot be combined/,
  );
});

Deno.test("job spec: verification settings out of range are refused", () => {
  const v = { redundancy: 2, challengeRate: 0.5, sampleRate: 0.02 };
  assert.deepEqual(parseJobSpec(bytesWith({ verification: v })).verification, v);
  assert.equal(
    parseJobSpec(bytesWith({ verification: { ...v, sampleRate: 0 } })).verification?.sampleRate,
    0,
  );
  refuses({ verification: { ...v, redundancy: 0 } }, /verification\.redundancy must be 1-10/);
  refuses({ verification: { ...v, redundancy: 11 } }, /verification\.redundancy must be 1-10/);
  refuses({ verification: { ...v, challengeRate: 1.1 } }, /verification\.challengeRate/);
  refuses({ verification: { ...v, sampleRate: 0.005 } }, /verification\.sampleRate/);
  refuses({ verification: { ...v, sampleRate: 0.06 } }, /verification\.sampleRate/);
  refuses({ verification: { ...v, spotCheckRate: -0.1 } }, /verification\.spotCheckRate/);
  refuses({ verification: { ...v, committee: "yes" } }, /verification\.committee/);
});

Deno.test("victim: redundancy with a codec that keeps error feedback is refused", () => {
  // Found in the worker audit: such a codec's update, and so the result a node commits, depends
  // on its private residual. A group mate that missed a round (a coordinator withholding its
  // task), or a replacement that starts from a zero residual, then committed a result outside
  // its group's majority in every later round, and redundancy settlement slashed it 50%.
  const v = { redundancy: 2, challengeRate: 0.1, sampleRate: 0 };
  for (const codec of ["int8", "int4", "topk", "topk-int8"]) {
    refuses(
      { verification: v, compression: { codec, fraction: 0.1 } },
      /verification\.redundancy above 1 needs a codec without error feedback/,
    );
    const alone = { verification: { ...v, redundancy: 1 }, compression: { codec, fraction: 0.1 } };
    assert.equal(parseJobSpec(bytesWith(alone)).compression?.codec, codec);
  }
  for (const compression of [{ codec: "fp32" }, { codec: "partition", parts: 2 }]) {
    assert.deepEqual(parseJobSpec(bytesWith({ verification: v, compression })).verification, v);
  }
});

Deno.test("roundHyper: cosine lr across rounds from lr down to lr * minLrRatio", () => {
  const spec = { ...validSpec(), rounds: 6 };
  const { lr, minLrRatio } = spec.optimizer;
  const lrs = Array.from({ length: spec.rounds }, (_, r) => roundHyper(spec, r).schedule.lr);
  near(lrs[0]!, lr, "round 0");
  near(lrs[spec.rounds - 1]!, lr * minLrRatio, "last round");
  for (let r = 1; r < lrs.length; r++) assert.ok(lrs[r]! < lrs[r - 1]!, `round ${r}: ${lrs}`);
  // Halfway through the cosine the lr is the midpoint of lr and lr * minLrRatio.
  const odd = { ...validSpec(), rounds: 5 };
  const mid = roundHyper(odd, 2).schedule.lr;
  near(mid, (lr + lr * minLrRatio) / 2, "midpoint");
  // Past the last round the lr stays at its floor.
  near(roundHyper(spec, 100).schedule.lr, lr * minLrRatio, "past the end");
  // A single-round job trains at the full lr.
  near(roundHyper({ ...validSpec(), rounds: 1 }, 0).schedule.lr, lr, "single round");
});

Deno.test("roundHyper: the lr is constant within a round and the batch is the spec's", () => {
  const spec = validSpec();
  const h = roundHyper(spec, 2);
  for (const step of [0, 1, 5, 100]) assert.equal(learningRate(step, h.schedule), h.schedule.lr);
  assert.equal(h.schedule.warmupSteps, 0);
  assert.deepEqual(h.model, spec.model);
  assert.equal(h.B, spec.batch.B);
  assert.equal(h.T, spec.batch.T);
  assert.equal(h.accumSteps, spec.batch.accumSteps);
  assert.equal(h.gradClip, spec.optimizer.gradClip);
});

Deno.test("roundHyper: optimizer kind maps to adamw by default and to sgd with momentum", () => {
  const adamw = roundHyper(validSpec(), 0).optimizer;
  assert.deepEqual(adamw, { kind: "adamw", beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.01 });
  const explicit = validSpec();
  explicit.optimizer.kind = "adamw";
  assert.equal(roundHyper(explicit, 0).optimizer.kind, "adamw");
  const sgdSpec = validSpec();
  sgdSpec.optimizer = { kind: "sgd", lr: 0.3, minLrRatio: 0.1, weightDecay: 0, gradClip: 1 };
  const sgd = roundHyper(sgdSpec, 0);
  assert.deepEqual(sgd.optimizer, { kind: "sgd", momentum: 0.9, weightDecay: 0 });
  near(sgd.schedule.lr, 0.3, "sgd round 0");
});

Deno.test("taskSeed: a uint32 that differs across shards and is stable per shard", () => {
  for (const seed of [0, 1, 1337, 2 ** 32 - 1]) {
    const spec = { ...validSpec(), seed };
    const seeds = Array.from({ length: 64 }, (_, i) => taskSeed(spec, i));
    for (const s of seeds) {
      assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 32, `${s}`);
    }
    assert.equal(new Set(seeds).size, seeds.length, `seed ${seed}`);
    // Redundant nodes on one shard derive the same seed.
    assert.equal(taskSeed(spec, 7), seeds[7]);
    // No shard trains with the job seed itself.
    assert.ok(!seeds.includes(seed >>> 0));
  }
  // Different job seeds give different task seeds for the same shard.
  assert.notEqual(
    taskSeed({ ...validSpec(), seed: 1 }, 0),
    taskSeed({ ...validSpec(), seed: 2 }, 0),
  );
});

Deno.test("job spec: server optimizer fields are accepted with their strategy only", () => {
  const a = validSpec().aggregation;
  const accepted = [
    { ...a, strategy: "diloco", outerLr: 0.7, outerMomentum: 0.9, outerNesterov: true },
    { ...a, strategy: "fedavgm", outerMomentum: 0.5 },
    { ...a, strategy: "fedadam", outerLr: 0.01, outerBeta1: 0.9, outerBeta2: 0.99, outerTau: 1e-3 },
    { ...a, strategy: "fedyogi", outerLr: 0.01 },
    { ...a, strategy: "fedadam", outerLr: 3e-3, outerBeta2: 0.95, outerBiasCorrection: true },
    { ...a, strategy: "fedadam", outerLr: 4e-3, outerWarmupRounds: 60 },
    { ...a, strategy: "fedavgm", outerWarmupRounds: 0 },
  ];
  for (const aggregation of accepted) {
    assert.deepEqual(parseJobSpec(bytesWith({ aggregation })).aggregation, aggregation);
  }
  refuses({ aggregation: { ...a, strategy: "fedadam" } }, /outerLr .* required with fedadam/);
  refuses({ aggregation: { ...a, strategy: "fedyogi", outerLr: 0 } }, /aggregation\.outerLr/);
  refuses({ aggregation: { ...a, outerLr: 0.7 } }, /aggregation\.outerLr/);
  refuses({ aggregation: { ...a, strategy: "diloco", outerMomentum: 1 } }, /outerMomentum/);
  refuses(
    { aggregation: { ...a, strategy: "fedadam", outerLr: 1, outerMomentum: 0.9 } },
    /outerMomentum/,
  );
  refuses({ aggregation: { ...a, strategy: "diloco", outerNesterov: "yes" } }, /outerNesterov/);
  refuses({ aggregation: { ...a, strategy: "diloco", outerTau: 0.1 } }, /outerTau/);
  refuses({ aggregation: { ...a, strategy: "fedyogi", outerLr: 1, outerBeta2: 1 } }, /outerBeta2/);
  refuses({ aggregation: { ...a, strategy: "fedyogi", outerLr: 1, outerTau: 0 } }, /outerTau/);
  refuses(
    { aggregation: { ...a, strategy: "fedavgm", outerBiasCorrection: true } },
    /outerBiasCorrection must be a boolean, with fedadam or fedyogi/,
  );
  refuses(
    { aggregation: { ...a, strategy: "fedadam", outerLr: 1, outerBiasCorrection: 1 } },
    /outerBiasCorrection/,
  );
  refuses(
    { aggregation: { ...a, outerWarmupRounds: 10 } },
    /outerWarmupRounds must be an integer in \[0, 1000000\], with diloco, fedavgm/,
  );
  for (const bad of [-1, 2.5, "10", 1e7]) {
    refuses(
      { aggregation: { ...a, strategy: "fedadam", outerLr: 1, outerWarmupRounds: bad } },
      /outerWarmupRounds/,
    );
  }
});

Deno.test("job spec: the lr schedule and its warmup are checked", () => {
  const o = validSpec().optimizer;
  const step = { ...o, schedule: "step", warmupSteps: 5 };
  assert.deepEqual(parseJobSpec(bytesWith({ optimizer: step })).optimizer, step);
  refuses({ optimizer: { ...o, schedule: "epoch" } }, /optimizer\.schedule/);
  refuses({ optimizer: { ...o, warmupSteps: 5 } }, /optimizer\.warmupSteps/);
  refuses({ optimizer: { ...o, schedule: "step", warmupSteps: 1.5 } }, /optimizer\.warmupSteps/);
  // 5 rounds x 10 steps: a 50-step warmup would never reach the cosine.
  refuses({ optimizer: { ...o, schedule: "step", warmupSteps: 50 } }, /below rounds x localSteps/);
});

Deno.test("roundHyper: the step schedule continues the job's global step in every round", () => {
  const spec = validSpec(); // 5 rounds x 10 local steps
  spec.optimizer = { ...spec.optimizer, schedule: "step", warmupSteps: 4 };
  const job = { lr: 3e-3, warmupSteps: 4, totalSteps: 50, minLrRatio: 0.1 };
  for (const round of [0, 1, 4]) {
    const h = roundHyper(spec, round);
    assert.deepEqual(h.schedule, job);
    assert.equal(h.scheduleOffset, round * 10);
    // A node's step s of this round (its AdamW state fresh, step s) reads the job's step.
    for (const s of [0, 3, 9]) {
      assert.equal(
        learningRate((h.scheduleOffset ?? 0) + s, h.schedule),
        learningRate(round * 10 + s, job),
      );
    }
  }
  assert.ok(learningRate(0, job) < learningRate(3, job), "warmup rises");
  near(learningRate(49, job), 3e-3 * 0.1 + 0.5 * 3e-3 * 0.9 * (1 + Math.cos(Math.PI * 45 / 46)));
  assert.equal(roundHyper(validSpec(), 3).scheduleOffset, undefined, "round schedule: no offset");
});

Deno.test("job spec: prepareJob writes the schedule and server optimizer options", async () => {
  const store = new Store(new MemoryBlockstore());
  const text = new TextEncoder().encode("a tiny corpus of words. ".repeat(50));
  const { spec } = await prepareJob(store, {
    model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
    shards: [{ name: "a", train: text, val: text }],
    rounds: 3,
    localSteps: 4,
    B: 2,
    T: 16,
    minLrRatio: 1,
    schedule: "step",
    warmupSteps: 2,
    strategy: "fedyogi",
    outer: { outerLr: 0.02, outerTau: 1e-2 },
  });
  assert.equal(spec.optimizer.schedule, "step");
  assert.equal(spec.optimizer.warmupSteps, 2);
  assert.equal(spec.optimizer.minLrRatio, 1);
  assert.equal(spec.aggregation.strategy, "fedyogi");
  assert.equal(spec.aggregation.outerLr, 0.02);
  assert.equal(spec.aggregation.outerTau, 1e-2);
  const diloco = await prepareJob(store, {
    model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
    shards: [{ name: "a", train: text, val: text }],
    rounds: 3,
    localSteps: 4,
    B: 2,
    T: 16,
    strategy: "diloco",
    outer: { outerMomentum: 0.5 },
  });
  assert.equal(diloco.spec.aggregation.outerLr, 0.7);
  assert.equal(diloco.spec.aggregation.outerMomentum, 0.5);
});

Deno.test("attacker: a job whose one step is hours of a laptop's work is refused before escrow", () => {
  // Found reviewing the worker's refuseStepWork: a job escrowed with such a step was refused by
  // every worker and stalled until its owner abandoned it; a step is now bounded in the spec
  // (MAX_STEP_FLOPS: half an hour at 1 GFLOP/s), where the owner's CLI and the coordinator read it.
  refuses({ batch: { B: 4, T: 32, accumSteps: 100_000_000 } }, /TFLOP is more than a worker does/);
  // GPT-2 small (124M) at B 8 x T 1024: ~6 TFLOP a step.
  const gpt2 = { kind: "gpt", maxT: 1024, layers: 12, heads: 12, width: 768 };
  refuses(
    { model: gpt2, batch: { B: 8, T: 1024, accumSteps: 1 } },
    /split it into more local steps/,
  );
  // The same model at B 1 x T 64 (bench:job-124m) is taken.
  assert.ok(
    parseJobSpec(
      bytesWith({ model: { ...gpt2, maxT: 64 }, batch: { B: 1, T: 64, accumSteps: 1 } }),
    ),
  );
});

Deno.test("attacker: a DP job listing one owner's shard under several names is refused", () => {
  // Found in the privacy audit: shards [{a, X}, {b, X}, {c, X}] put X's data in three counted
  // updates a round, each charged as a separate owner's at z (so X's true noise was z / 3):
  // epsilon 19.8 on the books for a true 100 at z = 1 over 10 rounds.
  const PRIVACY = { clip: 1, noiseMultiplier: 1, delta: 1e-5, maxEpsilon: 50 };
  const v0 = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n";
  const v1 = "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
  const three = [{ name: "a", cid: v0 }, { name: "b", cid: v0 }, { name: "c", cid: v0 }];
  refuses({ privacy: PRIVACY, shards: three }, /shards\[1\]\.cid is shards\[0\]'s/);
  // The same CID spelled as v0 and v1 is the same shard.
  refuses(
    { privacy: PRIVACY, shards: [{ name: "a", cid: v0 }, { name: "b", cid: v1 }] },
    /shards\[1\]\.cid is shards\[0\]'s/,
  );
  // Without privacy nothing is charged: a repeat is the owner's choice of weighting.
  assert.ok(parseJobSpec(bytesWith({ shards: three })));
});

Deno.test("attacker: a job whose step cannot fit a 32-bit WASM memory is refused before escrow", () => {
  // Found in the kernel audit: a tiny model with a batch of 32,768 x 64 passes the FLOP bound, but
  // its kernel workspace is ~10 GiB with either trainer; every node failed on memory.grow.
  const tiny = { kind: "gpt", maxT: 64, layers: 1, heads: 1, width: 4 };
  refuses(
    { model: tiny, batch: { B: 32_768, T: 64, accumSteps: 1 } },
    /more than a 32-bit WASM memory gives it .*raise batch\.accumSteps/,
  );
  // The same tokens in micro-batches of 512 sequences fit.
  assert.ok(parseJobSpec(bytesWith({ model: tiny, batch: { B: 512, T: 64, accumSteps: 64 } })));
});

Deno.test("attacker: localSteps above the chain's MAX_STEPS_PER_ROUND is refused", () => {
  // Found in the kernel audit: any positive integer passed, and a worker allocates a round's
  // per-step records up front. AIJobManager refuses stepsPerRound above 1,000,000 as well.
  refuses({ localSteps: 1_000_001 }, /localSteps must be at most 1000000/);
  refuses({ localSteps: 2 ** 31 }, /localSteps must be at most/);
  assert.equal(parseJobSpec(bytesWith({ localSteps: 1_000_000 })).localSteps, 1_000_000);
});
