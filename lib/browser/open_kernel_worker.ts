/**
 * Starting the Web Worker a page trains in (lib/browser/kernel_worker.ts, served as
 * /join/worker.js) and waiting until it can take messages.
 *
 * Why the wait: the worker bundle has a top-level await (lib/crypto/digest.ts instantiates its
 * keccak wasm before anything else runs). Chromium enables a module worker's message port when
 * the module's evaluation starts, not when its top-level await settles, so a message posted right
 * after `new Worker` can be dispatched while the top level still awaits, before `onmessage` is
 * set, and is dropped without any error: the check page sat at "training 4 steps" about one load
 * in six. The worker posts `{ type: "ready" }` as its last top-level statement; nothing is posted
 * to it before that.
 *
 * @example
 * ```ts ignore
 * import { openKernelWorker } from "./open_kernel_worker.ts";
 * const kernel = await openKernelWorker(new URL("/join/worker.js", location.href));
 * kernel.postMessage({ type: "train", wasmUrl, task });
 * ```
 */

/** The message the kernel Web Worker posts once its module has run to the end. */
export const KERNEL_READY = "ready";

/** How long a worker may take to load its bundle and the keccak wasm (default of `timeoutMs`). */
const READY_TIMEOUT_MS = 30_000;

/** Starts the module Web Worker at `url`; resolves once it said it is ready. */
export function openKernelWorker(
  url: URL | string,
  options: { timeoutMs?: number } = {},
): Promise<Worker> {
  const worker = new Worker(url, { type: "module" });
  const timeoutMs = options.timeoutMs ?? READY_TIMEOUT_MS;
  return new Promise<Worker>((resolve, reject) => {
    const fail = (why: string) => {
      done();
      worker.terminate();
      reject(new Error(`Cannot start the kernel Web Worker ${url}: ${why}`));
    };
    const onMessage = (e: MessageEvent) => {
      if (e.data?.type !== KERNEL_READY) return;
      done();
      resolve(worker);
    };
    // A script that fails to load or throws at its top level never says it is ready.
    const onError = (e: ErrorEvent) => fail(e.message || "its script failed to load");
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs / 1000} s`), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
    };
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
  });
}
