/**
 * Compiles the aggregation kernels (lib/strategy/wasm/*.ts, AssemblyScript) into the committed
 * binary lib/strategy/wasm/aggregate.wasm that lib/strategy/_aggregate_wasm.ts loads:
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
  "--initialMemory",
  "1",
];

/** Compiles the aggregation kernels without touching the filesystem; optionally the text too. */
export async function compileAggregate(
  options: { text?: boolean } = {},
): Promise<{ wasm: Uint8Array; text?: string }> {
  let wasm: Uint8Array | undefined;
  let text: string | undefined;
  const errors: string[] = [];
  const out = ["--outFile", "a.wasm", ...(options.text ? ["--textFile", "a.wat"] : [])];
  const { error } = await asc.main([ENTRY, ...ASC_FLAGS, ...out], {
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
  const { wasm } = await compileAggregate();
  const target = new URL(AGGREGATE_WASM_PATH, ROOT);
  if (Deno.args.includes("--check")) {
    let committed: Uint8Array;
    try {
      committed = Deno.readFileSync(target);
    } catch {
      console.error(
        `Cannot check aggregate kernels: ${AGGREGATE_WASM_PATH} is missing; ` +
          "run deno run -A scripts/build_aggregate.ts",
      );
      Deno.exit(1);
    }
    if (!sameBytes(wasm, committed)) {
      console.error(
        `Cannot check aggregate kernels: rebuilt ${wasm.length} bytes differ from committed ` +
          `${committed.length} bytes of ${AGGREGATE_WASM_PATH}; run deno run -A ` +
          "scripts/build_aggregate.ts",
      );
      Deno.exit(1);
    }
    console.log(`${AGGREGATE_WASM_PATH} is up to date (${wasm.length} bytes)`);
  } else {
    Deno.writeFileSync(target, wasm);
    console.log(`wrote ${AGGREGATE_WASM_PATH} (${wasm.length} bytes)`);
  }
}
