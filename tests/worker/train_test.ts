/** The laptop's trainer (lib/worker/train.ts): the resident or offload step by the planner. */
import assert from "node:assert/strict";
import { encodeText, sampleBatch } from "../../kernel/data.ts";
import { initOptState } from "../../kernel/optimizer.ts";
import { initWeights, paramLayout } from "../../kernel/params.ts";
import { Kernel, type KernelExports, loadKernel } from "../../kernel/wasm_module.ts";

/** A WASM memory page. */
const PAGE = 65_536;
import { chooseTrainer } from "../../lib/job/planner.ts";
import { defaultHyper } from "../../lib/round/local_training.ts";
import { sizedTrainer } from "../../lib/worker/train.ts";

/** The kernel with its memory allowed to grow to `capBytes` only. */
function cappedKernel(capBytes: number): Kernel {
  const ops = loadKernel().ops;
  const memory = ops.memory;
  const capped = {
    get buffer() {
      return memory.buffer;
    },
    grow(pages: number) {
      if (memory.buffer.byteLength + pages * PAGE > capBytes) throw new RangeError("capped");
      return memory.grow(pages);
    },
  };
  return new Kernel({ ...ops, memory: capped } as unknown as KernelExports);
}

Deno.test("victim: an offload job after a resident one is not starved by the resident workspace", () => {
  // Found reviewing the kernel fix: the resident trainer kept its last workspace (up to 3 GiB)
  // under the offload step's window when the next job took the offload trainer, and that job's
  // memory.grow failed at every retry.
  const model = { kind: "gpt" as const, maxT: 64, layers: 2, heads: 2, width: 64 };
  const small = defaultHyper(model, { B: 16, T: 64 });
  const large = defaultHyper(model, { B: 32, T: 64 });
  const budget = 30e6;
  const resident = chooseTrainer(small, { budget });
  const offload = chooseTrainer(large, { budget });
  assert.equal(resident.kind, "resident");
  assert.equal(offload.kind, "offload");
  // Room for either step alone, not both.
  const base = loadKernel().ops.memory.buffer.byteLength;
  const alone = Math.max(resident.resident.linearBytes, offload.offload.linearBytes);
  const cap = base + alone + 8e6;
  assert.ok(resident.resident.linearBytes + offload.offload.linearBytes > cap - base);
  const kernel = cappedKernel(cap);
  const trainer = sizedTrainer(kernel, { budget });
  const weights = initWeights(kernel, paramLayout(model), 1);
  const text = encodeText("the quick brown fox jumps over the lazy dog ".repeat(40));

  // Execute + Assert: both steps train.
  for (const h of [small, large]) {
    const batch = sampleBatch(text, h.B, h.T, 1, 0);
    const step = trainer.trainStep(weights, initOptState("adamw", weights.length), batch, 0, h);
    assert.ok(Number.isFinite(step.loss));
  }
});
