/**
 * The laptop worker (lib/worker/worker.ts) in a browser tab: the same loop, registration,
 * gateway, delivery and state, with one step changed. Training runs in a Web Worker
 * (lib/browser/kernel_worker.ts) so the page stays responsive: the tab fetches the spec, weights
 * and shard through the gateway (every byte re-hashed against its CID), posts them to the Web
 * Worker, which runs lib/worker/train.ts trainInputs on the kernel.wasm the coordinator serves.
 *
 * @example
 * ```ts ignore
 * import { BrowserWorker } from "./browser_worker.ts";
 * const kernel = new Worker("/join/worker.js", { type: "module" });
 * const worker = new BrowserWorker({ ...options, kernel, wasmUrl: "/join/kernel.wasm" });
 * await worker.register();
 * await worker.run(signal);
 * ```
 */
import { stepReporter, Worker as ArthaWorker, type WorkerOptions } from "../worker/worker.ts";
import { fetchTaskInputs, type TrainedRound } from "../worker/train.ts";
import type { TrainTask } from "../worker/task.ts";
import type { TrainTaskMessage } from "./kernel_worker.ts";

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
}

let nextId = 0;

/** A Worker whose training step runs in a Web Worker. */
export class BrowserWorker extends ArthaWorker {
  readonly #kernel: KernelPort;
  readonly #wasm: { url: string; digest?: string };

  constructor(options: BrowserWorkerOptions) {
    super(options);
    this.#kernel = options.kernel;
    this.#wasm = { url: options.wasmUrl, digest: options.wasmDigest };
  }

  /** Fetches the task's inputs here, trains them in the Web Worker. */
  protected override async train(task: TrainTask): Promise<TrainedRound> {
    const inputs = await fetchTaskInputs({ gateway: this.gateway, state: this.state }, task);
    const { onProgress, key } = this.options;
    const { jobId, round } = task;
    const onStep = onProgress &&
      stepReporter(inputs.spec, (p) => onProgress({ kind: "step", jobId, round, ...p }));
    const message: TrainTaskMessage = {
      type: "trainTask",
      id: ++nextId,
      wasmUrl: this.#wasm.url,
      wasmDigest: this.#wasm.digest,
      nodeSecret: key.secretKey,
      domain: this.domain,
      task,
      inputs,
    };
    return await new Promise<TrainedRound>((resolve, reject) => {
      const listener = (e: MessageEvent) => {
        const msg = e.data;
        if (msg?.id !== message.id) return;
        if (msg.type === "taskStep") return onStep?.(msg);
        this.#kernel.removeEventListener("message", listener);
        if (msg.type === "trained") resolve(msg.trained as TrainedRound);
        else reject(new Error(`Cannot train round ${round} in the Web Worker: ${msg.message}`));
      };
      this.#kernel.addEventListener("message", listener);
      this.#kernel.postMessage(message);
    });
  }
}
