/**
 * One kernel thread (a Web Worker started by kernel/threads.ts): instantiates the threads build
 * over the shared memory, then, each time the generation changes, claims and runs blocks of the
 * op in flight until none is left, and sleeps again; until told to quit. A failing block still
 * counts as done (so the caller never hangs) and raises the error flag the caller checks.
 */
/// <reference lib="deno.worker" />
import { CTRL, QUIT, runBlocks, type ThreadInit, waitWhile } from "./threads.ts";
import type { KernelExports } from "./wasm_module.ts";

self.onmessage = (e: MessageEvent<ThreadInit>) => {
  const { module, memory, ctrl, args, index } = e.data;
  const ops = new WebAssembly.Instance(module, { env: { memory } })
    .exports as unknown as KernelExports;
  let scratch = -1; // the scratch version applied to this instance
  const applyScratch = () => {
    const version = Atomics.load(ctrl, CTRL.SCRATCH_VERSION);
    if (version === scratch) return;
    const ptr = Atomics.load(ctrl, CTRL.SCRATCH_PTR) >>> 0;
    ops.setScratch(ptr + index * (Atomics.load(ctrl, CTRL.SCRATCH_STRIDE) >>> 0));
    scratch = version;
  };
  // Read the generation before saying ready: the caller posts no op until it hears back.
  let seen = Atomics.load(ctrl, CTRL.GEN);
  self.postMessage("ready");
  for (;;) {
    seen = waitWhile(ctrl, CTRL.GEN, seen);
    if (Atomics.load(ctrl, CTRL.OP) === QUIT) break;
    runBlocks(ops, ctrl, args, applyScratch);
  }
  self.close();
};
