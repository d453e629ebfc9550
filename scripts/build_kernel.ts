/**
 * Compiles kernel/wasm/*.ts to kernel/wasm/build/kernel.wasm with the AssemblyScript compiler.
 *
 *   deno task build:kernel          # rebuild and write the committed binary
 *   deno task check:kernel          # rebuild in memory; exit 1 if it differs from the committed one
 *
 * Flags: SIMD on, relaxed SIMD never (its fused multiply-add differs between CPUs), no runtime
 * (the host owns memory), no assertions, no host imports (`abort=` drops the only one), so the
 * module's results cannot depend on anything outside it.
 */
import asc from "assemblyscript/asc";

const ROOT = new URL("../", import.meta.url);
const ENTRY = "kernel/wasm/index.ts";
export const WASM_PATH = "kernel/wasm/build/kernel.wasm";

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

/**
 * Compiles the kernel without touching the filesystem. Returns the wasm bytes and, when asked,
 * the text format (used by tests to audit which instructions the binary contains).
 */
export async function compileKernel(
  options: { text?: boolean } = {},
): Promise<{ wasm: Uint8Array; text?: string }> {
  let wasm: Uint8Array | undefined;
  let text: string | undefined;
  const errors: string[] = [];
  const out = ["--outFile", "kernel.wasm", ...(options.text ? ["--textFile", "kernel.wat"] : [])];
  const { error } = await asc.main([ENTRY, ...ASC_FLAGS, ...out], {
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
  const { wasm: bytes } = await compileKernel();
  const target = new URL(WASM_PATH, ROOT);
  if (Deno.args.includes("--check")) {
    let committed: Uint8Array;
    try {
      committed = Deno.readFileSync(target);
    } catch {
      console.error(`Cannot check kernel: ${WASM_PATH} is missing; run deno task build:kernel`);
      Deno.exit(1);
    }
    if (!sameBytes(bytes, committed)) {
      console.error(
        `Cannot check kernel: rebuilt ${bytes.length} bytes differ from committed ` +
          `${committed.length} bytes; run deno task build:kernel`,
      );
      Deno.exit(1);
    }
    console.log(`kernel.wasm is up to date (${bytes.length} bytes)`);
  } else {
    Deno.mkdirSync(new URL("kernel/wasm/build/", ROOT), { recursive: true });
    Deno.writeFileSync(target, bytes);
    console.log(`wrote ${WASM_PATH} (${bytes.length} bytes)`);
  }
}
