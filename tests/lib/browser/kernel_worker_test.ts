/**
 * The browser tab's kernel Web Worker from the victim's side (found in the kernel audit): it
 * trains with the resident step, whose whole workspace is in one 32-bit WASM memory. A job whose
 * step needs more grew the memory until memory.grow failed, and the kernel's bump pointer, left
 * past the end, failed every later task (the tiny check included) until the tab was reloaded.
 */
import assert from "node:assert/strict";
import { openKernelWorker } from "../../../lib/browser/open_kernel_worker.ts";
import { tinyKernelTask } from "../../../lib/browser/tiny_task.ts";
import type { JobSpec } from "../../../lib/job/job_spec.ts";
import { paramLayout } from "../../../kernel/params.ts";

const WORKER_URL = new URL("../../../lib/browser/kernel_worker.ts", import.meta.url);
const WASM_URL = new URL("../../../kernel/wasm/build/kernel.wasm", import.meta.url).href;
const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

/** The next message from `worker` that is not a step report. */
function reply(worker: Worker): Promise<{ type: string; message?: string }> {
  return new Promise((resolve) => {
    const on = (e: MessageEvent) => {
      if (e.data?.type === "step" || e.data?.type === "taskStep") return;
      worker.removeEventListener("message", on);
      resolve(e.data);
    };
    worker.addEventListener("message", on);
  });
}

Deno.test("victim: a job whose step exceeds WASM memory is refused, and the tab still trains", async () => {
  // Prepare: a tiny model with a batch of 32,768 x 64 (~10 GiB of workspace), as a job task with
  // well-formed inputs, so that nothing but the memory check stops it before the kernel.
  const model = { kind: "gpt", maxT: 64, layers: 1, heads: 1, width: 4 } as const;
  const spec = {
    version: 1,
    model,
    batch: { B: 32_768, T: 64, accumSteps: 1 },
    optimizer: { lr: 3e-3, minLrRatio: 0.1, weightDecay: 0, gradClip: 1 },
    rounds: 1,
    localSteps: 1,
    proofEvery: 1,
    seed: 1,
    initialWeights: CID,
    shards: [{ name: "a", cid: CID }],
    validation: CID,
    aggregation: { strategy: "fedavg", quorum: 0.8, deadlineMs: 60_000, clusterSize: 16 },
  } satisfies JobSpec;
  const jobId = `0x${"11".repeat(32)}`;
  const hostile = {
    type: "trainTask",
    id: 1,
    wasmUrl: WASM_URL,
    nodeSecret: new Uint8Array(32).fill(7),
    domain: { chainId: 31337, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" },
    task: {
      status: "task",
      jobId,
      round: 0,
      specCid: CID,
      globalCid: CID,
      shard: { index: 0, name: "a", cid: CID },
      seed: 3,
      slot: 0,
    },
    inputs: {
      spec,
      global: new Float32Array(paramLayout(model).size),
      data: new TextEncoder().encode("the quick brown fox jumps over the lazy dog. ".repeat(40)),
    },
  };
  const worker = await openKernelWorker(WORKER_URL);
  try {
    // Execute: the hostile task, then the tab's tiny check on the same kernel.
    const refused = reply(worker);
    worker.postMessage(hostile);
    const first = await refused;
    const checked = reply(worker);
    worker.postMessage({ type: "train", wasmUrl: WASM_URL, task: tinyKernelTask() });
    const second = await checked;
    // Assert: refused by the check, before any allocation; the kernel still trains.
    assert.equal(first.type, "error");
    assert.match(first.message ?? "", /Cannot train in this tab: .* GiB of WASM memory/);
    assert.equal(second.type, "done", second.message ?? "");
  } finally {
    worker.terminate();
  }
});
