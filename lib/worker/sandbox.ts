/**
 * The worker under the least Deno permissions it needs. A laptop owner starts `worker.ts` with
 * broad rights (`deno task worker`); before touching anything it relaunches itself with network
 * access to its coordinator and chain only, reads and writes of its own folder (the state's, where
 * a new key is made too), read of a key kept elsewhere (that file only), of the training kernel's
 * WASM and of the deployment's address file, and its own environment variables. A folder that is
 * the home directory, holds it, or is `/` is refused (lib/config.ts refuses it first, exit 2). Untrusted inputs (models, shards, tasks) are then processed by a process that
 * cannot read the owner's home directory, write elsewhere, reach other hosts or run programs.
 *
 * @module
 */
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { KERNEL_THREADS_WASM_URL, KERNEL_WASM_URL } from "../../kernel/wasm_module.ts";

/** Where the worker connects and what it keeps on disk (absolute or relative paths). */
export interface WorkerResources {
  coordinator: string;
  rpc: string;
  key: string;
  state: string;
  /** The addresses file (none when the addresses are given as JSON in ARTHA_ADDRESSES). */
  addresses?: string;
  /** The owner's home directory: no folder granted may hold it. */
  home?: string;
}

/** The environment variables the worker reads (lib/config.ts names; INIT_CWD is where relative
 * paths start, as in its launcher). */
export const WORKER_ENV = ["ARTHA_*", "ARTH_RPC_URL", "HOME", "INIT_CWD"];

/**
 * The `deno run` permission flags of a worker with these resources.
 *
 * @example
 * ```ts
 * import { workerPermissions } from "./sandbox.ts";
 * const flags = workerPermissions({
 *   coordinator: "http://127.0.0.1:8787", rpc: "http://127.0.0.1:8545",
 *   key: "/home/me/.artha/node.key", state: "/home/me/.artha/worker.json", addresses: "/tmp/a.json",
 * });
 * console.assert(flags.includes("--allow-net=127.0.0.1:8787,127.0.0.1:8545"));
 * console.assert(flags.some((f) => f.startsWith("--allow-write=/home/me/.artha")));
 * ```
 */
export function workerPermissions(r: WorkerResources): string[] {
  const hosts = [...new Set([r.coordinator, r.rpc].map(hostOf))];
  const key = resolve(r.key), folder = dirname(resolve(r.state));
  for (const f of new Set([folder, dirname(key)])) refuseHome(f, r.home);
  // The state's folder is the worker's own (state, residual files, a new key); a key kept
  // elsewhere is read as that one file, never its folder.
  const own = dirname(key) === folder ? [folder] : [folder, key];
  const addresses = r.addresses === undefined ? [] : [resolve(r.addresses)];
  // The kernel: both binaries, and its folder (the thread workers' module is loaded from it).
  const kernel = [KERNEL_WASM_URL, KERNEL_THREADS_WASM_URL, new URL("../../", KERNEL_WASM_URL)];
  const read = [...own, ...addresses, ...kernel.map((u) => fromFileUrl(u))];
  return [
    `--allow-net=${hosts.join(",")}`,
    `--allow-read=${read.join(",")}`,
    `--allow-write=${folder}`,
    `--allow-env=${WORKER_ENV.join(",")}`,
    // The machine's memory, the default bound on a task's training step (--max-memory).
    "--allow-sys=systemMemoryInfo",
    "--no-prompt",
  ];
}

/** Refuses a folder whose grant would open the home directory (it, a parent of it, or /). */
function refuseHome(folder: string, home: string | undefined): void {
  const rel = home === undefined ? ".." : relative(folder, resolve(home));
  if (folder === "/" || rel === "" || !(rel.startsWith("..") || isAbsolute(rel))) {
    throw new TypeError(
      `Cannot sandbox the worker in ${folder}: it holds the home directory; give it a folder ` +
        "of its own (--dir, default ~/.artha)",
    );
  }
}

function hostOf(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`Cannot sandbox the worker: ${url} is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(`Cannot sandbox the worker: ${url} is not http(s)`);
  }
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  return `${u.hostname}:${port}`;
}

/** Set in the sandboxed child's environment by {@link runSandboxed}. */
export const SANDBOX_ENV = "ARTHA_SANDBOXED";

/**
 * In the sandboxed child: exits as soon as the parent is gone (its end of stdin closes).
 * Call once at start; a no-op in a worker started directly.
 */
export function exitWithParent(sandboxed: boolean): void {
  if (!sandboxed) return;
  (async () => {
    const reader = Deno.stdin.readable.getReader();
    while (!(await reader.read()).done) { /* nothing is ever sent */ }
    Deno.exit(143);
  })();
}

/**
 * What this process may touch, for the owner to see: read, write, net and run, each "all" or
 * "scoped", and whether that is a sandbox. Found in the worker audit: started with broad read,
 * write or net but no run (so it cannot relaunch itself scoped), it said "sandbox" all the same.
 *
 * @example
 * ```ts
 * import { describeSandbox } from "./sandbox.ts";
 * console.assert(describeSandbox(1, (n) => n === "read").startsWith("NOT sandboxed"));
 * console.assert(describeSandbox(1, () => false).startsWith("sandbox (pid 1)"));
 * ```
 */
export function describeSandbox(
  pid: number,
  granted: (name: "read" | "write" | "net" | "run") => boolean = (name) =>
    Deno.permissions.querySync({ name }).state === "granted",
): string {
  const names = ["read", "write", "net", "run"] as const;
  const all = names.filter(granted);
  const list = names.map((n) => `${n} ${all.includes(n) ? "all" : "scoped"}`).join(", ");
  if (!all.some((n) => n !== "run")) return `sandbox (pid ${pid}): ${list}`;
  return `NOT sandboxed (pid ${pid}): ${list}; start it with \`deno task worker\` (or -A), ` +
    "and it relaunches itself with only what it needs";
}

/** True when this process may still run programs, i.e. it is not the sandboxed worker yet. */
export function mayRelaunch(): boolean {
  return Deno.permissions.querySync({ name: "run" }).state === "granted";
}

/**
 * Runs `main` (the worker's entry module) with `args` under {@link workerPermissions} and
 * returns its exit code; SIGINT and SIGTERM are passed on so the worker stops after its tick.
 */
export async function runSandboxed(
  main: URL,
  args: string[],
  resources: WorkerResources,
): Promise<number> {
  const config = fromFileUrl(new URL("../../deno.json", import.meta.url));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", config, ...workerPermissions(resources), fromFileUrl(main), ...args],
    // The child's stdin is a pipe nobody writes: it closes when this process dies, even by
    // SIGKILL, and the child then stops too (see exitWithParent), never orphaned.
    stdin: "piped",
    env: { [SANDBOX_ENV]: "1" },
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const forward = (signal: Deno.Signal) => () => child.kill(signal);
  const onTerm = forward("SIGTERM"), onInt = forward("SIGINT");
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onInt);
  try {
    return (await child.status).code;
  } finally {
    Deno.removeSignalListener("SIGTERM", onTerm);
    Deno.removeSignalListener("SIGINT", onInt);
  }
}
