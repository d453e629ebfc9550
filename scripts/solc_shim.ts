/**
 * A stand-in for the `solc` command line that forge can run offline: it answers `--version` in
 * solc's format with the version of the pinned npm `solc` package, and `--standard-json` by
 * handing stdin to solc-js and writing its output to stdout. The flags forge adds
 * (`--allow-paths`, `--base-path`, `--include-path`) only steer the import callback, which reads
 * files forge did not put in the input. Run it through scripts/solc_shim.sh, which is what
 * foundry.toml names as `solc`.
 *
 *   scripts/solc_shim.sh --version
 *   scripts/solc_shim.sh --base-path . --standard-json < input.json > output.json
 */
import solc from "solc";
import { isAbsolute, join, resolve } from "node:path";

interface ShimArgs {
  mode: "version" | "standard-json" | "help";
  basePath?: string;
  includePaths: string[];
  allowPaths: string[];
}

/** Error for a command line the shim does not understand (exit code 2, like solc). */
export class ShimUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShimUsageError";
  }
}

/** Parses the subset of solc's flags that forge passes. Unknown flags are an error. */
export function parseArgs(argv: readonly string[]): ShimArgs {
  const out: ShimArgs = { mode: "help", includePaths: [], allowPaths: [] };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new ShimUsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const take = () => inline ?? value(i++, flag);
    switch (flag) {
      case "--version":
        out.mode = "version";
        break;
      case "--standard-json":
        out.mode = "standard-json";
        break;
      case "--help":
        out.mode = "help";
        break;
      case "--base-path":
        out.basePath = take();
        break;
      case "--include-path":
        out.includePaths.push(take());
        break;
      case "--allow-paths":
        out.allowPaths.push(...take().split(",").filter((p) => p !== ""));
        break;
      default:
        throw new ShimUsageError(`solc shim: unsupported argument ${arg}`);
    }
  }
  return out;
}

/** solc's `--version` text, e.g. "Version: 0.8.37+commit.f401782d.Emscripten.clang". */
export function versionText(): string {
  return `solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`;
}

/** Builds solc-js's import callback: a path is tried under the base path, then include paths. */
export function importCallback(args: ShimArgs, cwd = Deno.cwd()) {
  const base = resolve(cwd, args.basePath ?? "");
  const roots = [base, ...args.includePaths.map((p) => resolve(cwd, p))];
  return (path: string): { contents: string } | { error: string } => {
    const candidates = isAbsolute(path) ? [path] : roots.map((r) => join(r, path));
    for (const file of candidates) {
      try {
        return { contents: Deno.readTextFileSync(file) };
      } catch {
        // try the next root
      }
    }
    return { error: `File not found: ${path} (looked in ${roots.join(", ")})` };
  };
}

/** Compiles a standard-JSON input with solc-js and returns the standard-JSON output. */
export function compileStandardJson(input: string, args: ShimArgs, cwd = Deno.cwd()): string {
  return solc.compile(input, { import: importCallback(args, cwd) });
}

async function writeAll(text: string): Promise<void> {
  const writer = Deno.stdout.writable.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
}

if (import.meta.main) {
  let args: ShimArgs;
  try {
    args = parseArgs(Deno.args);
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(2);
  }
  if (args.mode === "version") {
    await writeAll(versionText());
  } else if (args.mode === "standard-json") {
    const input = await new Response(Deno.stdin.readable).text();
    await writeAll(compileStandardJson(input, args));
  } else {
    console.error(
      "usage: solc_shim.sh (--version | [--base-path P] [--include-path P]... " +
        "[--allow-paths P,...] --standard-json < input.json)",
    );
    Deno.exit(2);
  }
}
