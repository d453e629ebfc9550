/**
 * Compiles the aggregation kernels (lib/strategy/wasm/*.ts, AssemblyScript) into two committed
 * binaries from the same source: lib/strategy/wasm/aggregate.wasm (own memory), which
 * lib/strategy/_aggregate_wasm.ts loads, and aggregate_threads.wasm (imports one shared memory,
 * so one instance per thread works on the same slots and limbs), which lib/strategy/slot_sum.ts
 * loads:
 *
 *   deno run -A scripts/build_aggregate.ts           # rebuild and write the committed binary
 *   deno run -A scripts/build_aggregate.ts --check   # rebuild in memory; exit 1 if it differs
 *
 * Flags as the training kernel's (scripts/build_kernel.ts): SIMD on, relaxed SIMD never (its
 * fused multiply-add differs between CPUs), no runtime (the host owns memory), no assertions, no
 * host imports, so results cannot depend on anything outside the module. The kernels only use
 * operations whose results are fully specified by the wasm standard.
 *
 * @module
 */
import asc from "assemblyscript/asc";

const ROOT = new URL("../", import.meta.url);
const ENTRY = "lib/strategy/wasm/index.ts";
/** The committed binary, relative to the repository root. */
export const AGGREGATE_WASM_PATH = "lib/strategy/wasm/aggregate.wasm";
/** The committed threads build, relative to the repository root. */
export const AGGREGATE_THREADS_WASM_PATH = "lib/strategy/wasm/aggregate_threads.wasm";

const ASC_FLAGS = [
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

/** Own memory (grown by the host) or, for threads, one shared memory of up to 4 GiB. */
const MEMORY_FLAGS = ["--initialMemory", "1"];
const THREADS_MEMORY_FLAGS = [
  "--enable",
  "threads",
  "--importMemory",
  "--sharedMemory",
  "--initialMemory",
  "1",
  "--maximumMemory",
  "65536",
];

/** Compiles the aggregation kernels without touching the filesystem; optionally the text too. */
export async function compileAggregate(
  options: { text?: boolean; threads?: boolean } = {},
): Promise<{ wasm: Uint8Array; text?: string }> {
  let wasm: Uint8Array | undefined;
  let text: string | undefined;
  const errors: string[] = [];
  const out = ["--outFile", "a.wasm", ...(options.text ? ["--textFile", "a.wat"] : [])];
  const memory = options.threads ? THREADS_MEMORY_FLAGS : MEMORY_FLAGS;
  const { error } = await asc.main([ENTRY, ...ASC_FLAGS, ...memory, ...out], {
    readFile: (name: string, dir: string) => {
      // Sources import "./x.ts" so Deno can resolve them; asc wants extensionless specifiers.
      try {
        const source = Deno.readTextFileSync(new URL(`${dir}/${name}`, ROOT));
        return source.replace(/(from\s+"\.\/[\w]+)\.ts"/g, '$1"');
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
    throw new Error(
      `Cannot compile ${ENTRY}: ${error?.message ?? "no output"}\n${errors.join("")}`,
    );
  }
  return { wasm: new Uint8Array(wasm), text };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  let stale = false;
  for (
    const [path, threads] of [[AGGREGATE_WASM_PATH, false], [
      AGGREGATE_THREADS_WASM_PATH,
      true,
    ]] as const
  ) {
    const { wasm } = await compileAggregate({ threads });
    const target = new URL(path, ROOT);
    if (!check) {
      Deno.writeFileSync(target, wasm);
      console.log(`wrote ${path} (${wasm.length} bytes)`);
      continue;
    }
    let committed: Uint8Array | undefined;
    try {
      committed = Deno.readFileSync(target);
    } catch {
      console.error(`Cannot check aggregate kernels: ${path} is missing`);
      stale = true;
      continue;
    }
    if (!sameBytes(wasm, committed)) {
      console.error(
        `Cannot check aggregate kernels: rebuilt ${wasm.length} bytes differ from committed ` +
          `${committed.length} bytes of ${path}`,
      );
      stale = true;
    } else console.log(`${path} is up to date (${wasm.length} bytes)`);
  }
  if (stale) {
    console.error("run deno task build:aggregate");
    Deno.exit(1);
  }
}
