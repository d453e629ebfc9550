/**
 * Crash-safe file writes: write a temp file beside the target, optionally fsync, then
 * rename (or hard-link, to refuse overwriting), and fsync the folder so the new name lasts. A
 * crash leaves at most a temp file whose name starts with {@link TEMP_PREFIX}, never a
 * half-written target.
 *
 * @module
 */

/** Prefix of temp files; anything with it is an abandoned write and safe to delete. */
export const TEMP_PREFIX = ".tmp-";

/** Options of {@link writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** File mode set with chmod (exact, not masked by umask). Default: leave to umask. */
  mode?: number;
  /** Fail with Deno.errors.AlreadyExists instead of replacing an existing file. */
  exclusive?: boolean;
  /** fsync the data before publishing it. Default true. */
  sync?: boolean;
  /** fsync the folder after publishing, so the new name outlives a power cut. Default: `sync`. */
  syncFolder?: boolean;
}

/**
 * Writes `data` to `path` so that readers see either the old file or the whole new one.
 *
 * @throws {Deno.errors.AlreadyExists} with `exclusive` when `path` exists
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a`, new Uint8Array([1]), { mode: 0o600 });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  const base = slash >= 0 ? path.slice(slash + 1) : path;
  const suffix = crypto.getRandomValues(new Uint32Array(2)).join("");
  const tmp = `${dir}/${TEMP_PREFIX}${base}.${suffix}`;
  const file = await Deno.open(tmp, {
    write: true,
    createNew: true,
    mode: options.mode ?? 0o644,
  });
  let published = false;
  try {
    try {
      if (options.mode !== undefined && Deno.build.os !== "windows") {
        await Deno.chmod(tmp, options.mode);
      }
      let written = 0;
      while (written < data.length) written += await file.write(data.subarray(written));
      if (options.sync ?? true) await file.sync();
    } finally {
      file.close();
    }
    if (options.exclusive) {
      await Deno.link(tmp, path); // fails with AlreadyExists: never clobbers a winner
    } else {
      await Deno.rename(tmp, path);
      published = true;
    }
  } finally {
    if (!published) await Deno.remove(tmp).catch(() => {});
  }
  if (options.syncFolder ?? options.sync ?? true) await syncDir(dir);
}

/**
 * fsyncs the folder a file was just renamed (or linked) into. Found in the worker audit: the
 * rename lived in the page cache only, and a power cut could lose it after the data was synced;
 * the worker's record of a commit, saved before its transaction is sent, relies on it lasting.
 * Skipped where the platform refuses: Windows cannot open a folder as a file, some file systems
 * cannot fsync one, and a sandbox may not grant reading the folder.
 */
async function syncDir(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  let folder: Deno.FsFile;
  try {
    folder = await Deno.open(dir, { read: true });
  } catch {
    return;
  }
  try {
    await folder.sync();
  } catch {
    // refused for a folder by this file system: nothing more can be done here
  } finally {
    folder.close();
  }
}
