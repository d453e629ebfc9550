/**
 * The local model cache of embedded inference: `artha://<cid>` -> a folder on disk
 * (`$ARTHA_CACHE_DIR`, else `$XDG_CACHE_HOME/arthatrain/models`, else `~/.cache/...`), downloaded
 * once from a local SVDB store directory or a coordinator's gateway (the store first unless the
 * gateway was named explicitly; a source that misses passes to the other; a gateway that cannot
 * be reached is retried with backoff), every block verified, and written atomically (a temp dir
 * renamed into place), so later runs are offline.
 *
 * @example
 * ```ts
 * import { cachedModelDir, readModelDir } from "./model_cache.ts";
 * import { openFsStore } from "../store/store.ts";
 * import { exportModelFolder } from "./publish.ts";
 * import { paramLayout } from "../../kernel/params.ts";
 * const tmp = await Deno.makeTempDir();
 * const store = await openFsStore(`${tmp}/svdb`);
 * const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
 * const cid = await exportModelFolder(store, config, new Float32Array(paramLayout(config).size));
 * await store.close();
 * const dir = await cachedModelDir(`artha://${cid}`, { storeDir: `${tmp}/svdb`, cacheDir: `${tmp}/c` });
 * console.assert((await readModelDir(dir))["config.json"] !== undefined);
 * await Deno.remove(tmp, { recursive: true });
 * ```
 */
import { join } from "node:path";
import { parseArthaUri, parseCid } from "../store/cid.ts";
import { type ModelFiles, writeModelFiles } from "./hf_model.ts";
import { fetchModelFolder, getModelFolder, NotAFolderError } from "./model_folder.ts";
import { openFsStore } from "../store/store.ts";
import { env } from "../config.ts";

export interface CacheOptions {
  /** Read from this SVDB store directory (tried first, unless `gatewayFirst`). */
  storeDir?: string;
  /** Else download from this coordinator (its /svdb gateway). */
  gateway?: string;
  /** Try the gateway before the store (the user named it explicitly). */
  gatewayFirst?: boolean;
  /** Cache root (default: see module doc). */
  cacheDir?: string;
  /** Gateway downloads that cannot connect (or get 502/503/504) are tried this often (3). */
  attempts?: number;
  /** Told before each retry of the gateway: why, and the wait in ms (1 s, doubling). */
  onRetry?: (why: string, inMs: number) => void;
}

/** The default cache root. */
export function defaultCacheDir(): string {
  return env.modelCacheDir();
}

const DONE = ".artha-complete";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Every file of a model directory on disk, by relative path. */
export async function readModelDir(dir: string, prefix = ""): Promise<ModelFiles> {
  const out: ModelFiles = {};
  for await (const e of Deno.readDir(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.name === DONE) continue;
    if (e.isDirectory) Object.assign(out, await readModelDir(dir, rel));
    else if (e.isFile) out[rel] = await Deno.readFile(join(dir, rel));
  }
  return out;
}

/** The cached folder of a model URI or CID, downloading it on first use. */
export async function cachedModelDir(uri: string, options: CacheOptions = {}): Promise<string> {
  const cid = (uri.startsWith("artha://") ? parseArthaUri(uri) : parseCid(uri)).toString();
  const root = options.cacheDir ?? defaultCacheDir();
  const dir = join(root, cid);
  if (await exists(join(dir, DONE))) return dir;
  const files = await fetchFiles(cid, options);
  await Deno.mkdir(root, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: root, prefix: `.${cid.slice(-8)}-` });
  await writeModelFiles(tmp, files);
  await Deno.writeTextFile(join(tmp, DONE), cid);
  try {
    await Deno.rename(tmp, dir);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true });
    if (!(await exists(join(dir, DONE)))) throw e; // else a concurrent run cached it first
  }
  return dir;
}

/** Statuses of a gateway (or a proxy in front of it) that is briefly away. */
const TRANSIENT = new Set([502, 503, 504]);

/** fetch that retries a failed connection or a 502/503/504 with backoff, naming the URL. */
function retryingFetch(attempts: number, onRetry?: CacheOptions["onRetry"]): typeof fetch {
  return async (input, init) => {
    const url = String(input instanceof Request ? input.url : input).split("?")[0];
    for (let attempt = 1;; attempt++) {
      let why: string;
      try {
        const res = await fetch(input, init);
        if (!TRANSIENT.has(res.status) || attempt >= attempts) return res;
        await res.body?.cancel();
        why = `the gateway answered ${res.status} for ${url}`;
      } catch (e) {
        // fetch's own message is "fetch failed": give the cause (e.g. connection refused).
        if (attempt >= attempts) throw new TypeError(connectReason(e), { cause: e });
        why = `Cannot reach the gateway at ${url}: ${connectReason(e)}`;
      }
      const wait = 1000 * 2 ** (attempt - 1);
      onRetry?.(why, wait);
      await new Promise((r) => setTimeout(r, wait));
    }
  };
}

/** Why a connection failed: fetch's cause without the URL it repeats ("Connection refused"). */
function connectReason(e: unknown): string {
  const cause = (e as Error).cause as Error | undefined;
  const text = cause?.message ?? (e as Error).message;
  return text.replace(/^error sending request for url \([^)]*\): /, "").replace(
    /^client error \(Connect\): /,
    "",
  );
}

/**
 * The model's files from the store and the gateway, in the order asked: a source that fails
 * (the store lacks the CID, the gateway is down) passes to the next; if all fail, every reason.
 */
async function fetchFiles(cid: string, options: CacheOptions): Promise<ModelFiles> {
  const fromStore = async () => {
    const store = await openFsStore(options.storeDir!);
    try {
      return await getModelFolder(store, cid);
    } finally {
      await store.close();
    }
  };
  const get = retryingFetch(options.attempts ?? 3, options.onRetry);
  const fromGateway = () => fetchModelFolder(options.gateway!, cid, { fetch: get });
  const store = options.storeDir && await exists(options.storeDir)
    ? [[`the store ${options.storeDir}`, fromStore] as const]
    : [];
  const gateway = options.gateway ? [[`the gateway ${options.gateway}`, fromGateway] as const] : [];
  const sources = options.gatewayFirst ? [...gateway, ...store] : [...store, ...gateway];
  if (sources.length === 0) {
    throw new TypeError(`Cannot fetch ${cid}: not cached; give a store directory or a gateway`);
  }
  const failures: string[] = [];
  for (const [name, read] of sources) {
    try {
      return await read();
    } catch (e) {
      // A refused or unreadable folder is the answer, whichever source gave it.
      if (e instanceof NotAFolderError || sources.length === 1) throw e;
      failures.push(`${name}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  throw new Error(`Cannot fetch ${cid}: ${failures.join("; ")}`);
}
