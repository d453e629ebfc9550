/** A laptop worker of a test node that reaches "the coordinator" through `coordinator`. */
import { Worker, type WorkerOptions } from "../../lib/worker/worker.ts";
import type { CoordinatorFetch } from "../../lib/worker/client.ts";
import type { WorkerEvent } from "../../lib/worker/events.ts";
import { createTrainer } from "../../kernel/train_step.ts";
import { loadKernel } from "../../kernel/wasm_module.ts";
import type { Coordinator, TestNode } from "../functions/_coordinator.ts";

/**
 * The node's worker (no periodic heartbeats unless `options` say otherwise), its events pushed to
 * `events`; `options` (a state path, chore intervals) override the defaults.
 */
export function workerThrough(
  fx: Pick<Coordinator, "addresses" | "net">,
  node: TestNode,
  coordinator: CoordinatorFetch,
  events: WorkerEvent[] = [],
  options: Partial<WorkerOptions> = {},
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
    ...options,
  });
}
