/**
 * One aggregation thread (a Web Worker started by _aggregate_threads.ts): instantiates the
 * threads build over the shared memory, then, each time the generation changes, claims and runs
 * blocks of the op in flight until none is left, and sleeps again; until told to quit.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { type AggregateThreadInit, CTRL, runClaims, viewsOf } from "./_aggregate_threads.ts";
import type { AggregateExports } from "./_aggregate_wasm.ts";

self.onmessage = (e: MessageEvent<AggregateThreadInit>) => {
  const { module, memory, ctrl, args, index } = e.data;
  const kernels = new WebAssembly.Instance(module, { env: { memory } })
    .exports as unknown as AggregateExports;
  const views = viewsOf(memory);
  // Read the generation before saying ready: the caller runs no op until it hears back.
  let seen = Atomics.load(ctrl, CTRL.GEN);
  self.postMessage("ready");
  for (;;) {
    Atomics.wait(ctrl, CTRL.GEN, seen);
    seen = Atomics.load(ctrl, CTRL.GEN);
    if (Atomics.load(ctrl, CTRL.QUIT)) break;
    runClaims(kernels, views, ctrl, args, index, seen & 0x7ff);
  }
  self.close();
};
