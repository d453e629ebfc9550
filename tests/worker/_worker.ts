/** A laptop worker of a test node that reaches "the coordinator" through `coordinator`. */
import { Worker } from "../../lib/worker/worker.ts";
import type { CoordinatorFetch } from "../../lib/worker/client.ts";
import type { WorkerEvent } from "../../lib/worker/events.ts";
import { createTrainer } from "../../kernel/train_step.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import type { Coordinator, TestNode } from "../functions/_coordinator.ts";

/** The node's worker (no periodic heartbeats), its events pushed to `events`. */
export function workerThrough(
  fx: Pick<Coordinator, "addresses" | "net">,
  node: TestNode,
  coordinator: CoordinatorFetch,
  events: WorkerEvent[] = [],
): Worker {
  return new Worker({
    coordinator,
    client: node.operator,
    addresses: fx.addresses,
    chainId: fx.net.chainId,
    key: node.key,
    trainer: createTrainer(loadKernel()),
    heartbeatEveryMs: Infinity,
    onProgress: (e) => events.push(e),
  });
}
