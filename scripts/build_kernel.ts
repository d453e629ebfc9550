/**
 * Compiles kernel/wasm/*.ts with the AssemblyScript compiler into two committed binaries from the
 * same source: kernel/wasm/build/kernel.wasm (own memory) and kernel_threads.wasm (imports one
 * shared memory, so several instances, one per thread, work on the same buffers).
 *
 *   deno task build:kernel          # rebuild and write the committed binaries
 *   deno task check:kernel          # rebuild in memory; exit 1 if either differs from the committed
 *
 * Flags: SIMD on, relaxed SIMD never (its fused multiply-add differs between CPUs), no runtime
 * (the host owns memory), no assertions, no host imports (`abort=` drops the only one), so the
 * module's results cannot depend on anything outside it. The threads build adds only the shared
 * memory import (no atomics are used inside: the host synchronises between ops).
 */
import asc from "assemblyscript/asc";

const ROOT = new URL("../", import.meta.url);
const ENTRY = "kernel/wasm/index.ts";
export const WASM_PATH = "kernel/wasm/build/kernel.wasm";
export const THREADS_WASM_PATH = "kernel/wasm/build/kernel_threads.wasm";

export const ASC_FLAGS = [
  "-O3",
  "--converge",
  "--enable",
  "simd",
  "--runtime",
  "stub",
  "--noAssert",
  "--use",
  "abort=",
];

/** Extra flags of the threads build: one shared memory of up to 4 GiB, imported as env.memory. */
export const THREADS_FLAGS = [
  "--enable",
  "threads",
  "--importMemory",
  "--sharedMemory",
  "--initialMemory",
  "1",
  "--maximumMemory",
  "65536",
];

/**
 * Compiles the kernel without touching the filesystem. Returns the wasm bytes and, when asked,
 * the text format (used by tests to audit which instructions the binary contains).
 */
export async function compileKernel(
  options: { text?: boolean; threads?: boolean } = {},
): Promise<{ wasm: Uint8Array; text?: string }> {
  let wasm: Uint8Array | undefined;
  let text: string | undefined;
  const errors: string[] = [];
  const out = ["--outFile", "kernel.wasm", ...(options.text ? ["--textFile", "kernel.wat"] : [])];
  const flags = [...ASC_FLAGS, ...(options.threads ? THREADS_FLAGS : [])];
  const { error } = await asc.main([ENTRY, ...flags, ...out], {
    readFile: (name: string, dir: string) => {
      // Sources import "./x.ts" so Deno can resolve them, but asc would then load the same file
      // as a second module "x.ts.ts" with its own globals; hand asc extensionless specifiers.
      try {
        const text = Deno.readTextFileSync(new URL(`${dir}/${name}`, ROOT));
        return text.replace(/(from\s+"\.\/[\w]+)\.ts"/g, '$1"');
      } catch {
        return null;
      }
    },
    writeFile: (name: string, contents: Uint8Array | string) => {
      if (name.endsWith(".wasm") && typeof contents !== "string") wasm = contents;
      if (name.endsWith(".wat")) text = String(contents);
    },
    listFiles: () => [],
    stderr: { write: (s: string) => errors.push(s) },
  });
  if (error || !wasm) {
    throw new Error(`Cannot compile kernel: ${error?.message ?? "no output"}\n${errors.join("")}`);
  }
  return { wasm: new Uint8Array(wasm), text };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  let stale = false;
  for (const [path, threads] of [[WASM_PATH, false], [THREADS_WASM_PATH, true]] as const) {
    const { wasm: bytes } = await compileKernel({ threads });
    const target = new URL(path, ROOT);
    if (check) {
      let committed: Uint8Array;
      try {
        committed = Deno.readFileSync(target);
      } catch {
        console.error(`Cannot check kernel: ${path} is missing; run deno task build:kernel`);
        Deno.exit(1);
      }
      if (!sameBytes(bytes, committed)) {
        console.error(
          `Cannot check kernel: rebuilt ${bytes.length} bytes differ from committed ` +
            `${committed.length} bytes of ${path}; run deno task build:kernel`,
        );
        stale = true;
      } else {
        console.log(`${path} is up to date (${bytes.length} bytes)`);
      }
    } else {
      Deno.mkdirSync(new URL("kernel/wasm/build/", ROOT), { recursive: true });
      Deno.writeFileSync(target, bytes);
      console.log(`wrote ${path} (${bytes.length} bytes)`);
    }
  }
  if (stale) Deno.exit(1);
}
