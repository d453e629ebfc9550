import assert from "node:assert/strict";
import { planStepMemory } from "../../../kernel/memory_plan.ts";
import { defaultHyper } from "../../../lib/round/local_training.ts";
import {
  chooseTrainer,
  fitsNode,
  fitsWasmMemory,
  GB,
  gptActivationCount,
  gptParamCount,
  MAX_STEP_LINEAR_BYTES,
  monthlyTraffic,
  planModel,
  RESIDENT_STEP_BUDGET,
} from "../../../lib/job/planner.ts";

const gpt2 = { layers: 12, width: 768, heads: 12, context: 1024, vocab: 50257 };

Deno.test("planModel: the design doc's model-size numbers (1B, 500M, 3B)", () => {
  const oneB = planModel({ params: 1e9 });
  assert.equal(oneB.memory.params, 4 * GB); // FP32 weights: 4GB
  assert.equal(oneB.traffic.perRound, 8 * GB); // ~8GB per round
  assert.equal(planModel({ params: 1e9 }, { dtypeBytes: 2 }).memory.params, 2 * GB);
  assert.equal(planModel({ params: 5e8 }).memory.params, 2 * GB);
  assert.equal(planModel({ params: 5e8 }, { dtypeBytes: 2 }).memory.params, 1 * GB);
  assert.equal(planModel({ params: 3e9 }).memory.params, 12 * GB);
  // AdamW: params + grads + 2 states = 4 copies
  assert.equal(oneB.memory.total, 16 * GB);
  assert.equal(planModel({ params: 1e9 }, { optimizer: "sgd-momentum" }).memory.total, 12 * GB);
  assert.equal(planModel({ params: 1e9 }, { optimizer: "sgd" }).memory.total, 8 * GB);
});

Deno.test("planModel: section 9 bandwidth table (1B fp16: 4 GB/round)", () => {
  const plan = planModel({ params: 1e9 }, { dtypeBytes: 2 });
  assert.equal(plan.traffic.upload, 2 * GB);
  assert.equal(plan.traffic.download, 2 * GB);
  assert.equal(monthlyTraffic(plan, 24) / 1e12, 2.88); // ~2.9 TB at 1 round/hour
  assert.equal(monthlyTraffic(plan, 144) / 1e12, 17.28); // ~17.5 TB at 1 round/10 min
  assert.equal(monthlyTraffic(plan, 1) / GB, 120); // ~120 GB at 1 round/day
  const compressed = planModel({ params: 1e9 }, { dtypeBytes: 2, compressionRatio: 0.01 });
  assert.equal(compressed.traffic.upload, 0.02 * GB);
});

Deno.test("gptParamCount: GPT-2 small is 124,439,808 (llm.c)", () => {
  assert.equal(gptParamCount(gpt2), 124_439_808);
  const plan = planModel({ gpt: gpt2 }, { batchSize: 4 });
  assert.equal(plan.params, 124_439_808);
  // llm.c train_gpt2.c fill_in_activation_sizes, buffer by buffer (B=4, T=64, padded Vp=50304)
  const [B, T, C, L, NH, Vp] = [4, 64, 768, 12, 12, 50304];
  const sizes = [
    B * T * C, // encoded
    L * B * T * C, // ln1
    L * B * T, // ln1_mean
    L * B * T, // ln1_rstd
    L * B * T * 3 * C, // qkv
    L * B * T * C, // atty
    L * B * NH * T * T, // preatt
    L * B * NH * T * T, // att
    L * B * T * C, // attproj
    L * B * T * C, // residual2
    L * B * T * C, // ln2
    L * B * T, // ln2_mean
    L * B * T, // ln2_rstd
    L * B * T * 4 * C, // fch
    L * B * T * 4 * C, // fch_gelu
    L * B * T * C, // fcproj
    L * B * T * C, // residual3
    B * T * C, // lnf
    B * T, // lnf_mean
    B * T, // lnf_rstd
    B * T * Vp, // logits
    B * T * Vp, // probs
    B * T, // losses
  ];
  const llmc = sizes.reduce((a, b) => a + b, 0);
  assert.equal(gptActivationCount({ ...gpt2, context: T, vocab: Vp }, B), llmc);
  assert.equal(llmc, 73_347_840);
  assert.equal(plan.memory.activations, 2 * gptActivationCount(gpt2, 4) * 4);
});

Deno.test("fitsNode: fits, or says why not", () => {
  // Prepare
  const plan = planModel({ params: 1e9 }, { dtypeBytes: 2 });
  // Execute
  const urban = fitsNode(plan, { diskGB: 100, bandwidthMbps: 20, computeUnits: 8, memoryGB: 16 });
  const rural = fitsNode(plan, { diskGB: 5, bandwidthMbps: 5, computeUnits: 0, memoryGB: 4 });
  // Assert
  assert.equal(urban.fits, true, urban.reasons.join("; "));
  assert.equal(urban.transferSeconds, 1600);
  assert.equal(rural.fits, false);
  assert.equal(rural.reasons.length, 4);
  assert.match(rural.reasons.join("\n"), /disk: needs 8\.00 GB, has 5 GB/);
  assert.match(rural.reasons.join("\n"), /memory: needs 8\.00 GB, has 4 GB/);
  assert.match(rural.reasons.join("\n"), /bandwidth: .* 6400 s at 5 Mbps/);
  assert.match(rural.reasons.join("\n"), /compute: 0 units < 1/);
});

Deno.test("planModel: bad options throw RangeError", () => {
  assert.throws(() => planModel({ params: 0 }), RangeError);
  assert.throws(() => planModel({ params: 1 }, { compressionRatio: 0 }), RangeError);
});

Deno.test("planModel recompute: within 2% of the kernel's own plan of the offloaded step", () => {
  for (const [L, C, H] of [[12, 768, 12], [24, 1024, 16], [4, 256, 4]] as const) {
    // Prepare: the kernel's byte vocabulary (256) at the ladder's B 1 x T 1024.
    const gpt = { layers: L, width: C, heads: H, context: 1024, vocab: 256 };
    const model = { kind: "gpt" as const, maxT: 1024, layers: L, heads: H, width: C };
    // Execute
    const plan = planModel({ gpt }, { recompute: true, threads: 2 });
    const kernel = planStepMemory(defaultHyper(model, { B: 1, T: 1024 }), {
      offload: true,
      threads: 2,
    });
    // Assert
    const ratio = plan.memory.total / kernel.total;
    assert.ok(Math.abs(ratio - 1) < 0.02, `L${L} C${C}: planner/kernel ${ratio.toFixed(4)}`);
  }
});

Deno.test("chooseTrainer: resident while the workspace fits the budget, else offload", () => {
  // Prepare: GPT-2 small's shape at T 64, whose resident workspace is about 2 GiB
  const model = { kind: "gpt" as const, maxT: 64, layers: 12, heads: 12, width: 768 };
  const hyper = defaultHyper(model, { B: 1, T: 64 });
  // Execute
  const fits = chooseTrainer(hyper);
  const tight = chooseTrainer(hyper, { budget: fits.resident.linearBytes - 1 });
  // Assert
  assert.equal(fits.kind, "resident");
  assert.equal(tight.kind, "offload");
  assert.ok(fits.resident.linearBytes <= RESIDENT_STEP_BUDGET);
  assert.ok(fits.offload.linearBytes < fits.resident.linearBytes / 4, "offload keeps state out");
  // GPT-2 medium's shape at T 1024 does not fit a 32-bit memory resident
  const medium = { kind: "gpt" as const, maxT: 1024, layers: 24, heads: 16, width: 1024 };
  assert.equal(chooseTrainer(defaultHyper(medium, { B: 1, T: 1024 })).kind, "offload");
});

Deno.test("fitsWasmMemory: a workspace past 32-bit WASM memory fits neither trainer", () => {
  // Prepare: a tiny model whose batch of 32,768 x 64 needs ~10 GiB of activations (kernel audit)
  const tiny = { kind: "gpt" as const, maxT: 64, layers: 1, heads: 1, width: 4 };
  // Execute
  const huge = chooseTrainer(defaultHyper(tiny, { B: 32_768, T: 64 }));
  const small = chooseTrainer(defaultHyper(tiny, { B: 8, T: 64 }));
  // Assert: offload keeps only the state out, so its workspace is as large; the limit is 4 GiB
  // less headroom, and one byte over it does not fit
  assert.equal(huge.kind, "offload");
  assert.equal(fitsWasmMemory(huge.offload), false);
  assert.equal(fitsWasmMemory(small[small.kind]), true);
  assert.ok(MAX_STEP_LINEAR_BYTES < 4 * 2 ** 30);
  const edge = { ...small.resident, linearBytes: MAX_STEP_LINEAR_BYTES };
  assert.equal(fitsWasmMemory(edge), true);
  assert.equal(fitsWasmMemory({ ...edge, linearBytes: MAX_STEP_LINEAR_BYTES + 1 }), false);
});
