/**
 * The `secureAggregation` option of a job spec: accepted on its own and with DP, refused (naming
 * the field) with everything that needs to read individual updates.
 */
import assert from "node:assert/strict";
import { type JobSpec, parseJobSpec } from "../../../lib/job/job_spec.ts";

const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
const PRIVACY = { clip: 0.1, noiseMultiplier: 1, delta: 1e-5, maxEpsilon: 10 };

function spec(patch: Record<string, unknown>): Uint8Array {
  const base: JobSpec = {
    version: 1,
    model: { kind: "gpt", maxT: 32, layers: 1, heads: 2, width: 16 },
    batch: { B: 4, T: 32, accumSteps: 1 },
    optimizer: { lr: 3e-3, minLrRatio: 0.1, weightDecay: 0.01, gradClip: 1 },
    rounds: 5,
    localSteps: 10,
    proofEvery: 5,
    seed: 1,
    initialWeights: CID,
    shards: [{ name: "a", cid: CID }],
    validation: CID,
    aggregation: { strategy: "fedavg", quorum: 0.8, deadlineMs: 60_000, clusterSize: 16 },
  };
  return new TextEncoder().encode(JSON.stringify({ ...base, ...patch }));
}

Deno.test("secureAggregation: accepted alone, with DP and with verification", () => {
  const ok = (patch: Record<string, unknown>) => parseJobSpec(spec(patch)).secureAggregation;
  assert.deepEqual(ok({ secureAggregation: {} }), {});
  const full = { consistencyCheck: true, degree: 8, clip: 0.5, stageMs: 30_000 };
  assert.deepEqual(ok({ secureAggregation: full }), full);
  assert.ok(ok({ secureAggregation: {}, privacy: PRIVACY }));
  // Step challenges only: a chunk (or a gradient sample) opens the update itself.
  const verification = { redundancy: 1, challengeRate: 0.1, sampleRate: 0 };
  assert.ok(ok({ secureAggregation: {}, verification }));
});

Deno.test("secureAggregation: refused with what needs individual updates", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ robust: { strategy: "median" } }, /robust cannot be combined with secureAggregation/],
    [{ compression: { codec: "partition" } }, /compression other than fp32/],
    [{ compression: { codec: "int8" } }, /compression other than fp32/],
    [{ asynchronous: { maxStaleness: 2 } }, /asynchronous cannot/],
    [{
      aggregation: {
        strategy: "fedavg",
        quorum: 0.8,
        deadlineMs: 60_000,
        clusterSize: 16,
        hierarchical: true,
      },
    }, /aggregation.hierarchical cannot/],
    [
      { verification: { redundancy: 3, challengeRate: 0.1, sampleRate: 0.02 } },
      /redundancy above 1/,
    ],
    // Found in the privacy audit: a committee member (drawn from the job's own nodes) was given
    // read access to its targets' shards and recomputed each target's whole clean update, all
    // that secure aggregation hides, for whichever colluder the draw picked.
    [
      { verification: { redundancy: 1, challengeRate: 0.1, sampleRate: 0.02, committee: true } },
      /verification.committee cannot be combined with secureAggregation/,
    ],
    // Found in the secure aggregation audit: a gradient sample is answered with raw chunks of
    // the node's update in a public transaction.
    [
      { verification: { redundancy: 1, challengeRate: 0.1, sampleRate: 0.02 } },
      /verification.sampleRate cannot be combined with secureAggregation/,
    ],
    [{
      privacy: {
        ...PRIVACY,
        adaptiveClip: { targetQuantile: 0.5, learningRate: 0.2, countNoiseStd: 1 },
      },
    }, /privacy.adaptiveClip cannot/],
  ];
  for (const [patch, why] of cases) {
    assert.throws(() => parseJobSpec(spec({ ...patch, secureAggregation: {} })), why);
  }
  // Found in the secure aggregation audit: with the check off a coordinator unmasks a live node's
  // input, noised by its share of the round's noise alone.
  assert.throws(
    () => parseJobSpec(spec({ privacy: PRIVACY, secureAggregation: { consistencyCheck: false } })),
    /consistencyCheck cannot be false with privacy/,
  );
  const bad: [unknown, RegExp][] = [
    [{ degree: 3 }, /degree must be an even integer/],
    [{ degree: 0 }, /degree must be an even integer/],
    [{ clip: 0 }, /secureAggregation.clip/],
    [{ stageMs: -1 }, /stageMs/],
    [{ consistencyCheck: "yes" }, /consistencyCheck must be a boolean/],
    [{ minInputs: 2 }, /minInputs must be an integer in \[3, 100000\]/],
    [[], /secureAggregation must be an object/],
  ];
  for (const [option, why] of bad) {
    assert.throws(() => parseJobSpec(spec({ secureAggregation: option })), why);
  }
  assert.throws(
    () => parseJobSpec(spec({ secureAggregation: { clip: 1 }, privacy: PRIVACY })),
    /privacy.clip is the bound/,
  );
});
