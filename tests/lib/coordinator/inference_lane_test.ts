/** Inference's forward passes on the coordinator's thread (lib/coordinator/_inference_lane.ts). */
import assert from "node:assert/strict";
import type { DecoderBackend } from "../../../kernel/inference/backend.ts";
import { generate } from "../../../kernel/inference/runtime.ts";
import { InferenceLane, inLane, TURN_EVERY_MS } from "../../../lib/coordinator/_inference_lane.ts";

/** How long each of the fake backend's passes holds the thread. */
const PASS_MS = TURN_EVERY_MS / 4;

/** A backend whose passes are synchronous (as the kernel's WASM is), recording each. */
function syncBackend(passes: string[], name: string): DecoderBackend {
  const config = { kind: "gpt" as const, maxT: 64, layers: 1, heads: 1, width: 4 };
  return {
    name: "kernel",
    device: "wasm",
    config,
    step: (tokens, state) => {
      passes.push(name);
      const until = performance.now() + PASS_MS;
      while (performance.now() < until); // a pass holds the thread, as the kernel's does
      const past = (state as { n: number } | null)?.n ?? 0;
      const logits = new Float32Array(tokens.length * 256);
      return Promise.resolve({ logits, state: { n: past + tokens.length } as never });
    },
    dispose: () => Promise.resolve(),
  };
}

async function drain(backend: DecoderBackend, maxTokens: number): Promise<void> {
  const prompt = new Uint8Array([104, 105]);
  for await (const _ of generate(backend, prompt, { maxTokens, temperature: 0, topK: 0, seed: 1 }));
}

Deno.test("attacker: a generation does not hold the event loop for all its passes", async () => {
  // Found in the inference audit: a kernel backend's passes ran back to back in microtasks, so a
  // timer (a heartbeat's request, a round's close) waited for the whole generation.
  const passes: string[] = [];
  const backend = inLane(syncBackend(passes, "g"), new InferenceLane());
  let timerAt = -1;
  setTimeout(() => timerAt = passes.length, 0);
  await drain(backend, 20);
  assert.ok(timerAt >= 0 && timerAt < passes.length, `the timer ran at pass ${timerAt}`);
});

Deno.test("concurrent generations take turns, one pass at a time", async () => {
  const passes: string[] = [];
  const lane = new InferenceLane();
  const a = inLane(syncBackend(passes, "a"), lane);
  const b = inLane(syncBackend(passes, "b"), lane);
  await Promise.all([drain(a, 5), drain(b, 5)]);
  assert.equal(passes.filter((p) => p === "a").length, passes.filter((p) => p === "b").length);
  assert.ok(passes.join("").includes("ab"), `interleaved: ${passes.join("")}`);
});

Deno.test("a failed pass fails its request, not the lane", async () => {
  const lane = new InferenceLane();
  await assert.rejects(lane.run(() => Promise.reject(new Error("boom"))), /boom/);
  assert.equal(await lane.run(() => Promise.resolve(7)), 7);
});
