/**
 * writeFileAtomic from the side of a node that loses power (found in the worker audit): the temp
 * file was synced and renamed, but not its folder, so the rename could still be lost; the
 * worker's record of a commit, saved before the commit's transaction is sent, relies on it. No
 * power cut here: the test watches Deno.open and checks the folder is synced after the rename.
 */
import assert from "node:assert/strict";
import { writeFileAtomic } from "../../../lib/store/atomic.ts";

/** Runs `fn` with Deno.open watched: each folder of `dir` synced is pushed to `synced`, with
 * whether `target` existed by then. */
async function watchingSyncs(
  dir: string,
  target: string,
  fn: () => Promise<void>,
): Promise<{ path: string; targetThere: boolean }[]> {
  const synced: { path: string; targetThere: boolean }[] = [];
  const open = Deno.open;
  Object.assign(Deno, {
    open: async (path: string | URL, options?: Deno.OpenOptions) => {
      const file = await open(path, options);
      if (String(path) !== dir) return file;
      const sync = file.sync.bind(file);
      file.sync = async () => {
        const targetThere = await Deno.stat(target).then(() => true, () => false);
        synced.push({ path: String(path), targetThere });
        await sync();
      };
      return file;
    },
  });
  try {
    await fn();
  } finally {
    Object.assign(Deno, { open });
  }
  return synced;
}

Deno.test({
  name: "victim: writeFileAtomic syncs the folder after the rename",
  ignore: Deno.build.os === "windows", // a folder cannot be opened as a file there
  fn: async () => {
    // Prepare
    const dir = await Deno.makeTempDir();
    const target = `${dir}/commits`;
    try {
      // Execute
      const synced = await watchingSyncs(
        dir,
        target,
        () => writeFileAtomic(target, new Uint8Array([1, 2, 3]), { mode: 0o600 }),
      );

      // Assert: the folder synced once, with the new name in it; the file is whole.
      assert.deepEqual(synced, [{ path: dir, targetThere: true }]);
      assert.deepEqual(await Deno.readFile(target), new Uint8Array([1, 2, 3]));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("writeFileAtomic with sync off does not sync the folder", async () => {
  // Prepare
  const dir = await Deno.makeTempDir();
  const target = `${dir}/block`;
  try {
    // Execute
    const synced = await watchingSyncs(
      dir,
      target,
      () => writeFileAtomic(target, new Uint8Array([4]), { sync: false }),
    );

    // Assert
    assert.deepEqual(synced, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
