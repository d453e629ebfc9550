/**
 * lib/verify/recompute.ts and validation_task.ts: a committee member's recomputation pausing for
 * its other duties gives the same bytes as one that does not.
 */
import assert from "node:assert/strict";
import { createTrainer } from "../../../kernel/train_step.ts";
import { loadKernel } from "../../../kernel/wasm_module.ts";
import { initWeights, paramLayout } from "../../../kernel/params.ts";
import { defaultHyper } from "../../../lib/round/local_training.ts";
import { UNCHECKED_DOMAIN as domain } from "../../../lib/crypto/domain.ts";
import {
  recomputeRound,
  recomputeRoundYielding,
  wrongChunks,
} from "../../../lib/verify/recompute.ts";

Deno.test("a recomputation that pauses between steps gives the same digests, s_0..s_N and records", async () => {
  // Prepare
  const kernel = loadKernel();
  const trainer = createTrainer(kernel);
  const hyper = defaultHyper({ kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 }, {
    B: 2,
    T: 16,
  });
  const global = initWeights(kernel, paramLayout(hyper.model), 1);
  const data = new TextEncoder().encode("a small shard of text to train on. ".repeat(20));
  const task = {
    jobId: `0x${"11".repeat(32)}` as const,
    round: 1,
    seed: 3,
    localSteps: 4,
    proofEvery: 2,
    data,
    hyper,
    domain,
  };
  let pauses = 0;
  // Execute
  const plain = recomputeRound(trainer, global, task);
  const paused = await recomputeRoundYielding(trainer, global, task, {
    between: () => Promise.resolve(void pauses++),
    everyMs: 0,
  });
  // Assert
  assert.equal(pauses, task.localSteps);
  assert.equal(paused.resultHash, plain.resultHash);
  assert.deepEqual(paused.stepDigests, plain.stepDigests);
  assert.deepEqual(paused.stepRecords, plain.stepRecords);
  assert.deepEqual(paused.updateBytes, plain.updateBytes);
});

Deno.test("attacker: openings past the honest tree's width are wrong even when empty", () => {
  // Prepare: an honest update of 4 chunks (a tree of width 4; index 3 is a real chunk). Found in
  // the verification audit: a commit to an over-deep all-padding tree answered with empty chunks
  // at indices past the honest length, which the padding rule called honest.
  const honest = new Uint8Array(3 * 4096 + 100).fill(7);
  const small = new Uint8Array(2 * 4096 + 1).fill(7); // 3 chunks, width 4: index 3 is padding
  // Execute
  const overDeep = wrongChunks(honest, [{ chunkIndex: 4, chunk: "0x" }, {
    chunkIndex: 1 << 30,
    chunk: "0x",
  }]);
  const honestPadding = wrongChunks(small, [{ chunkIndex: 3, chunk: "0x" }]);
  // Assert
  assert.deepEqual(overDeep, [4, 1 << 30]);
  assert.deepEqual(honestPadding, [], "a padding leaf inside the honest width opens empty");
});
