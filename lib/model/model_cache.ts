/**
 * The local model cache of embedded inference: `artha://<cid>` -> a folder on disk
 * (`$ARTHA_CACHE_DIR`, else `$XDG_CACHE_HOME/arthatrain/models`, else `~/.cache/...`), downloaded
 * once from a local SVDB store directory or a coordinator's gateway, every block verified, and
 * written atomically (a temp dir renamed into place), so later runs are offline.
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
import { fetchModelFolder, getModelFolder } from "./model_folder.ts";
import { openFsStore } from "../store/store.ts";
import { env } from "../config.ts";

export interface CacheOptions {
  /** Read from this SVDB store directory (tried first). */
  storeDir?: string;
  /** Else download from this coordinator (its /svdb gateway). */
  gateway?: string;
  /** Cache root (default: see module doc). */
  cacheDir?: string;
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
  let files: ModelFiles;
  if (options.storeDir && await exists(options.storeDir)) {
    const store = await openFsStore(options.storeDir);
    try {
      files = await getModelFolder(store, cid);
    } finally {
      await store.close();
    }
  } else if (options.gateway) {
    files = await fetchModelFolder(options.gateway, cid);
  } else {
    throw new TypeError(`Cannot fetch ${cid}: not cached; give a store directory or a gateway`);
  }
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
