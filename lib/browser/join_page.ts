/**
 * The script of `GET /join`: runs the kernel in a Web Worker (so the page stays responsive) on
 * the bytes the coordinator serves and shows each step's loss, tokens/s and the digests. With
 * `?check` in the URL it runs at once; `steps`, `layers`, `width`, `heads`, `B` and `T` override
 * the tiny task (what bench/browser_kernel.ts uses), each within tiny_task.ts CHECK_LIMITS: a link
 * outside them is refused on the page before anything trains. The result is left as JSON in
 * `#kernel-result` and `body[data-kernel-done]` is set (`error` on failure). The join form (node
 * key, operator account, the worker loop and its live view) is lib/browser/join_worker.ts.
 *
 * @module
 */
import { taskFromQuery } from "./tiny_task.ts";
import type { JoinDocument } from "./join_document.ts";
import { setUpJoin } from "./join_worker.ts";
import { openKernelWorker } from "./open_kernel_worker.ts";

// Deno's type libraries have no DOM: the few shapes this page uses, as browsers define them.
interface PageElement {
  textContent: string | null;
  addEventListener(type: string, listener: () => void): void;
}
const document = (globalThis as unknown as {
  document: {
    body: { dataset: Record<string, string> };
    getElementById(id: string): PageElement | null;
  };
}).document;

const $ = (id: string): PageElement => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`Cannot run the join page: no #${id}`);
  return el;
};

async function runCheck(): Promise<void> {
  const task = taskFromQuery(new URLSearchParams(location.search));
  const tokensPerStep = task.B * task.T;
  document.body.dataset.kernelDone = "";
  $("kernel-status").textContent = "starting the Web Worker...";
  const worker = await openKernelWorker(new URL("/join/worker.js", location.href));
  const started = performance.now();
  $("kernel-status").textContent = `training ${task.localSteps} steps in a Web Worker...`;
  worker.onmessage = (e: MessageEvent) => {
    const msg = e.data;
    if (msg.type === "step") {
      const seconds = (performance.now() - started) / 1000;
      $("kernel-status").textContent = `step ${msg.step + 1} / ${task.localSteps}, loss ` +
        `${msg.loss.toFixed(4)}, ${((msg.step + 1) * tokensPerStep / seconds).toFixed(0)} tokens/s`;
    } else if (msg.type === "done") {
      $("kernel-result").textContent = JSON.stringify(
        { wasmDigest: msg.wasmDigest, ...msg.digests },
        null,
        1,
      );
      $("kernel-status").textContent =
        `done: ${msg.digests.tokensPerSecond.toFixed(0)} tokens/s, proofs root ` +
        msg.digests.proofsRoot;
      document.body.dataset.kernelDone = "1";
      worker.terminate();
    } else if (msg.type === "error") {
      $("kernel-status").textContent = `failed: ${msg.message}`;
      document.body.dataset.kernelDone = "error";
      worker.terminate();
    }
  };
  worker.onerror = (e) => {
    $("kernel-status").textContent = `failed: ${e.message}`;
    document.body.dataset.kernelDone = "error";
  };
  worker.postMessage({
    type: "train",
    wasmUrl: new URL("/join/kernel.wasm", location.href).href,
    task,
  });
}

function check(): void {
  runCheck().catch((e) => {
    $("kernel-status").textContent = `failed: ${(e as Error).message}`;
    document.body.dataset.kernelDone = "error";
  });
}

$("kernel-run").addEventListener("click", check);
if (new URLSearchParams(location.search).has("check")) check();
setUpJoin(document as unknown as JoinDocument).catch((e) => {
  $("join-status").textContent = `Cannot set up this tab as a worker: ${(e as Error).message}`;
  document.body.dataset.join = "error";
});
