/**
 * The worker's loop from the honest node's side: what it keeps doing while one long thing (a
 * round's local training) holds its thread.
 */
import assert from "node:assert/strict";
import { abis } from "../../lib/chain/contracts.ts";
import { Worker } from "../../lib/worker/worker.ts";
import { createTrainer } from "../../kernel/train_step.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import { setupCoordinator } from "../functions/_coordinator.ts";

/** A worker whose off-thread wait is callable from the test. */
class Busy extends Worker {
  busy<T>(work: Promise<T>): Promise<T> {
    return this.whileBusy(work);
  }
}

Deno.test("victim: an honest node whose round outlasts its heartbeat interval heartbeats while it trains", async () => {
  // Prepare: a node whose every local step takes longer than the worker's pause between steps
  // and whose heartbeat and challenge chores are due at every pause (on a laptop: a round of
  // hours against the chain's one-hour heartbeat interval, three misses of which cost 10%).
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const job = await s.job({ nodes: 1, rounds: 1, localSteps: 2 });
  const node = job.nodes[0]!;
  const kernel = createTrainer(loadKernel());
  const slow: typeof kernel = {
    ...kernel,
    trainStep: (...args) => {
      const until = performance.now() + 1_100;
      while (performance.now() < until) { /* a slow laptop */ }
      return kernel.trainStep(...args);
    },
  };
  const worker = new Busy({
    coordinator: s.call,
    client: node.operator,
    addresses: fx.addresses,
    chainId: fx.net.chainId,
    key: node.key,
    trainer: slow,
    heartbeatEveryMs: 0,
    choresEveryMs: 0,
  });

  // Execute: one tick trains the round and commits it.
  assert.equal(await worker.tick(), "trained");

  // Assert: besides the tick's own heartbeat before the task, heartbeats went out between the
  // local steps, before the round's commit (before: none until training was over).
  const args = { nodePubkey: node.nodePubkey };
  const [commit] = await fx.coordinator.getContractEvents({
    address: fx.addresses.proofs,
    abi: abis.proofs,
    eventName: "RoundCommitted",
    args,
    fromBlock: 0n,
  });
  const heartbeats = await fx.coordinator.getContractEvents({
    address: fx.addresses.registry,
    abi: abis.registry,
    eventName: "Heartbeat",
    args,
    fromBlock: 0n,
  });
  const before = heartbeats.filter((e) => e.blockNumber < commit!.blockNumber);
  assert.ok(before.length >= 2, `heartbeats before the commit: ${before.length}`);

  // The same for work off the thread (a browser tab trains in a Web Worker): chores run while it
  // is awaited, and its result or error comes back unchanged.
  const slowly = <T>(ms: number, v: () => T) =>
    new Promise<T>((resolve, reject) =>
      setTimeout(() => {
        try {
          resolve(v());
        } catch (e) {
          reject(e);
        }
      }, ms)
    );
  const count = async () =>
    (await fx.coordinator.getContractEvents({
      address: fx.addresses.registry,
      abi: abis.registry,
      eventName: "Heartbeat",
      args,
      fromBlock: 0n,
    })).length;
  const seen = await count();
  assert.equal(await worker.busy(slowly(500, () => 7)), 7);
  assert.ok(await count() >= seen + 1, "a heartbeat while the off-thread work ran");
  await assert.rejects(
    worker.busy(slowly(10, () => {
      throw new Error("the Web Worker failed");
    })),
    /the Web Worker failed/,
  );
});
