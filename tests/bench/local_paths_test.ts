import assert from "node:assert/strict";
import { scheduleRun } from "../../bench/local_paths.ts";
import type { QualityJob } from "../../bench/federated_quality.ts";

// A job whose every use fails: a schedule that does not add up must be refused before training.
const untouchable = new Proxy({}, {
  get: () => {
    throw new Error("the job was used");
  },
}) as QualityJob;

Deno.test("scheduleRun: refuses phases that do not take a node's 1,200 steps", async () => {
  await assert.rejects(
    scheduleRun(untouchable, 1, [{ steps: 600, K: 1, lr: 3e-3 }]),
    { name: "RangeError", message: /take 600 steps \(a node takes 1200\)/ },
  );
});

Deno.test("scheduleRun: refuses a phase whose steps are not a multiple of its K", async () => {
  await assert.rejects(
    scheduleRun(untouchable, 1, [{ steps: 300, K: 8, lr: 2e-3 }, { steps: 900, K: 1, lr: 3e-3 }]),
    { name: "RangeError", message: /300 steps are not a multiple of 8/ },
  );
});
