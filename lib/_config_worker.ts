/**
 * The worker's files, checked with its settings (lib/config.ts readWorkerSettings) before any
 * network call: the node's folder must not be the home directory or above it, nor hold code (the
 * sandbox grants that folder, lib/worker/sandbox.ts), an existing node key must be private and
 * parse, and the state's folder is made if missing.
 * Private to lib/config.ts.
 *
 * @module
 */
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { SettingsReader } from "./_config_reader.ts";

/** Where the worker keeps its key and state, and the names to blame for each. */
export interface WorkerFiles {
  key: string;
  keyName: string;
  state: string;
  stateName: string;
}

/** True when `folder` is `home`, holds it, or is the root: granting it grants the home. */
function coversHome(folder: string, home: string | undefined): boolean {
  if (folder === "/") return true;
  if (home === undefined) return false;
  const rel = relative(folder, home);
  return rel === "" || (!rel.startsWith("..") && !rel.startsWith("/"));
}

/** The repository this program runs from, which its unsandboxed launcher runs again next time. */
const PROGRAM_DIR = import.meta.url.startsWith("file:")
  ? fileURLToPath(new URL("../", import.meta.url)).replace(/\/$/, "")
  : undefined;

/**
 * Why `folder` holds code, or undefined: it holds the program's repository or lies in it (outside
 * its .artha/ data folder), or it holds a deno.json. Found in the CLI audit: `worker --dir .` put
 * the node key in the repository and let the sandboxed worker rewrite the code its launcher runs.
 */
function holdsCode(folder: string): string | undefined {
  if (PROGRAM_DIR !== undefined) {
    const rel = relative(PROGRAM_DIR, folder);
    const inside = rel === "" || (!rel.startsWith("..") && !rel.startsWith("/"));
    const data = rel === ".artha" || rel.startsWith(".artha/");
    if ((inside && !data) || coversHome(folder, PROGRAM_DIR)) return "the worker's own code";
  }
  for (const name of ["deno.json", "deno.jsonc"]) {
    const file = join(folder, name);
    // Queried first: a path outside the task's read grant would prompt on a terminal.
    if (Deno.permissions.querySync({ name: "read", path: file }).state !== "granted") continue;
    try {
      if (Deno.statSync(file).isFile) return `a ${name} project`;
    } catch {
      // absent: nothing to protect here
    }
  }
  return undefined;
}

/**
 * Refuses key and state folders that would open the home directory to the sandboxed worker, and
 * (with `readFiles`) a key file that is readable by others or not a node key. A key outside the
 * state's folder must exist: the sandbox reads that file only, and cannot create it.
 */
export function checkWorkerFiles(r: SettingsReader, f: WorkerFiles, readFiles: boolean): void {
  const home = r.get("HOME");
  for (const [path, name] of [[f.key, f.keyName], [f.state, f.stateName]] as const) {
    if (coversHome(dirname(path), home)) {
      r.fail(
        name,
        `is ${path}, in ${dirname(path)}: the worker's sandbox may read and write that folder, ` +
          "which holds your home directory; use a folder of its own (default ~/.artha)",
      );
      return;
    }
    const code = holdsCode(dirname(path));
    if (code !== undefined) {
      r.fail(
        name,
        `is ${path}, in ${dirname(path)}, which holds ${code}: the worker's sandbox may write ` +
          "that folder; use a folder of its own (default ~/.artha, or .artha/<name> here)",
      );
      return;
    }
  }
  if (!readFiles) return;
  checkKeyFile(r, f);
  makeStateFolder(r, f);
}

/**
 * Creates the state's folder (mode 0700) when it is missing. Found in the worker audit: with
 * --key naming a key kept elsewhere, nothing made the folder (a new key's creation did), so each
 * round was trained and then lost when its commit record could not be written.
 */
function makeStateFolder(r: SettingsReader, f: WorkerFiles): void {
  const folder = dirname(f.state);
  try {
    Deno.mkdirSync(folder, { recursive: true, mode: 0o700 });
  } catch (e) {
    r.fail(
      f.stateName,
      `is ${f.state}, whose folder ${folder} cannot be made (${(e as Error).message}); ` +
        `run mkdir -m 700 ${folder}, or choose another folder`,
    );
  }
}

function checkKeyFile(r: SettingsReader, f: WorkerFiles): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(f.key);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      r.fail(f.keyName, `is ${f.key}, which cannot be read (${(e as Error).message})`);
    } else if (dirname(f.key) !== dirname(f.state)) {
      r.fail(
        f.keyName,
        `is ${f.key}, which does not exist: a new node key is made only in the worker's folder ` +
          `(${dirname(f.state)}); leave out ${f.keyName}, or give an existing key`,
      );
    }
    return; // created at start, mode 0600
  }
  if (!info.isFile) return void r.fail(f.keyName, `is ${f.key}, which is not a file`);
  if (Deno.build.os !== "windows" && info.mode !== null && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8);
    return void r.fail(
      f.keyName,
      `is ${f.key}, with mode ${mode}: readable by others; run chmod 600 ${f.key}`,
    );
  }
  // The full check (public key matches the secret) is lib/crypto's when the worker loads it.
  let secret: unknown;
  try {
    secret = JSON.parse(Deno.readTextFileSync(f.key))?.secretKey;
  } catch (e) {
    secret = e;
  }
  if (typeof secret !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(secret)) {
    r.fail(
      f.keyName,
      `is ${f.key}, which is not a node key file (JSON with a 32-byte secretKey); ` +
        "move it away to make a new key",
    );
  }
}
