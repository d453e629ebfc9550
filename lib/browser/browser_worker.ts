/**
 * The laptop worker (lib/worker/worker.ts) in a browser tab: the same loop, registration,
 * gateway, delivery and state, with the compute steps moved. Training, a committee member's
 * recomputation and a cluster aggregator's mean run in a Web Worker (lib/browser/kernel_worker.ts)
 * so the page stays responsive: the tab fetches what a task needs through the gateway (every byte
 * re-hashed against its CID) and posts it to the Web Worker, which runs the laptop's own code on it
 * (lib/worker/train.ts trainInputs, validate.ts recomputeInputs, cluster.ts clusterMeanOf) with the
 * kernel.wasm and aggregate.wasm the coordinator serves. Attesting and posting stay the Worker's.
 *
 * @example
 * ```ts ignore
 * import { BrowserWorker } from "./browser_worker.ts";
 * import { openKernelWorker } from "./open_kernel_worker.ts";
 * const kernel = await openKernelWorker("/join/worker.js");
 * const worker = new BrowserWorker({
 *   ...options,
 *   kernel,
 *   wasmUrl: "/join/kernel.wasm",
 *   aggregateWasmUrl: "/join/aggregate.wasm",
 * });
 * await worker.register();
 * await worker.run(signal);
 * ```
 */
import type { Hex } from "viem";
import { stepReporter, Worker as ArthaWorker, type WorkerOptions } from "../worker/worker.ts";
import { fetchTaskInputs, type TrainedRound } from "../worker/train.ts";
import { fetchValidationInputs } from "../worker/validate.ts";
import { type ClusterMean, fetchClusterUpdates } from "../worker/cluster.ts";
import type { ClusterTask, TrainTask, ValidationTask } from "../worker/task.ts";
import type { JobMessage } from "./kernel_worker.ts";

/** The part of a Web Worker the tab talks to. */
export interface KernelPort {
  postMessage(message: unknown): void;
  addEventListener(type: "message", listener: (e: MessageEvent) => void): void;
  removeEventListener(type: "message", listener: (e: MessageEvent) => void): void;
}

export interface BrowserWorkerOptions extends WorkerOptions {
  /** The Web Worker running lib/browser/kernel_worker.ts (functions/_join/worker.js). */
  kernel: KernelPort;
  /** Where the Web Worker fetches kernel.wasm (absolute URL). */
  wasmUrl: string;
  /** keccak256 the kernel.wasm bytes must have (optional). */
  wasmDigest?: string;
  /** Where the Web Worker fetches aggregate.wasm for cluster tasks (absolute URL). */
  aggregateWasmUrl: string;
}

/** A job message without its id (given when posted). */
type Unsent<M> = M extends JobMessage ? Omit<M, "id"> : never;

let nextId = 0;

/** A Worker whose training step runs in a Web Worker. */
export class BrowserWorker extends ArthaWorker {
  readonly #kernel: KernelPort;
  readonly #wasm: { wasmUrl: string; wasmDigest?: string };
  readonly #aggregateWasmUrl: string;

  constructor(options: BrowserWorkerOptions) {
    super(options);
    this.#kernel = options.kernel;
    this.#wasm = { wasmUrl: options.wasmUrl, wasmDigest: options.wasmDigest };
    this.#aggregateWasmUrl = options.aggregateWasmUrl;
  }

  /** Fetches the task's inputs here, trains them in the Web Worker. */
  protected override async train(task: TrainTask): Promise<TrainedRound> {
    const inputs = await fetchTaskInputs({ gateway: this.gateway, state: this.state }, task);
    const { onProgress, key } = this.options;
    const { jobId, round } = task;
    const onStep = onProgress &&
      stepReporter(inputs.spec, (p) => onProgress({ kind: "step", jobId, round, ...p }));
    // A round may take hours: the tab stays live and answers challenges while the Web Worker trains.
    return await this.whileBusy(this.#post<TrainedRound>({
      type: "trainTask",
      ...this.#wasm,
      nodeSecret: key.secretKey,
      domain: this.domain,
      task,
      inputs,
    }, onStep));
  }

  /** Fetches the target's inputs here, recomputes its round in the Web Worker. */
  protected override async recompute(task: ValidationTask): Promise<Hex> {
    const inputs = await fetchValidationInputs(this.gateway, task);
    return await this.whileBusy(
      this.#post<Hex>({ type: "recomputeTask", ...this.#wasm, task, inputs }),
    );
  }

  /** Fetches the members' updates here, sums them in the Web Worker. */
  protected override async clusterMean(
    task: ClusterTask,
    digests: ReadonlyMap<string, Hex>,
  ): Promise<ClusterMean> {
    const spec = await this.gateway.spec(task.specCid);
    const updates = await fetchClusterUpdates(this.gateway, task, digests, () => this.chores());
    const aggregateWasmUrl = this.#aggregateWasmUrl;
    return await this.#post<ClusterMean>({
      type: "clusterTask",
      aggregateWasmUrl,
      task,
      spec,
      updates,
    });
  }

  /** Posts a job message to the Web Worker; resolves with its result. */
  #post<T>(
    unsent: Unsent<JobMessage>,
    onStep?: (p: { step: number; steps: number; loss: number }) => void,
  ): Promise<T> {
    const message = { ...unsent, id: ++nextId } as JobMessage;
    const { id, type } = message;
    return new Promise<T>((resolve, reject) => {
      const listener = (e: MessageEvent) => {
        const msg = e.data;
        if (msg?.id !== id) return;
        if (msg.type === "taskStep") return onStep?.(msg);
        this.#kernel.removeEventListener("message", listener);
        if (msg.type === "result") resolve(msg.result as T);
        else reject(workerError(type, msg));
      };
      this.#kernel.addEventListener("message", listener);
      this.#kernel.postMessage(message);
    });
  }
}

/** The Error a Web Worker's error message stands for, with the name it had there. */
function workerError(type: string, msg: { message?: unknown; name?: unknown }): Error {
  const e = new Error(`Cannot run ${type} in the Web Worker: ${msg.message}`);
  if (typeof msg.name === "string" && msg.name !== "") e.name = msg.name;
  return e;
}
