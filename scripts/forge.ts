/**
 * forge, run offline from the repo root: where the npm package put its binary, and a run of it
 * with the solc shim's Deno pinned to this one (tests/contracts/forge_invariant_test.ts).
 *
 *   deno task build:forge     # forge build of the invariant tests, warming forge's cache
 *
 * CI runs the build beside its one-core static checks, so the test that compiles the same
 * sources (~2-3 min of solc-js) finds them compiled.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const ROOT_URL = new URL("../", import.meta.url);
const ROOT = fileURLToPath(ROOT_URL);
/** Only the forge tests and what they import get compiled (not every contract under src). */
export const FORGE_DIR = "tests/contracts/forge";

const PLATFORM_PACKAGES: Record<string, string> = {
  "linux-x86_64": "forge-linux-amd64",
  "linux-aarch64": "forge-linux-arm64",
  "darwin-x86_64": "forge-darwin-amd64",
  "darwin-aarch64": "forge-darwin-arm64",
  "windows-x86_64": "forge-win32-amd64",
};

/** Finds the forge binary: $FORGE_BIN, else the platform package under node_modules. */
export async function findForge(): Promise<string> {
  const fromEnv = Deno.env.get("FORGE_BIN");
  if (fromEnv) return fromEnv;
  const pkg = PLATFORM_PACKAGES[`${Deno.build.os}-${Deno.build.arch}`];
  if (!pkg) throw new Error(`no forge build for ${Deno.build.target}`);
  const exe = Deno.build.os === "windows" ? "forge.exe" : "forge";
  const store = new URL("node_modules/.deno/", ROOT_URL);
  try {
    for await (const entry of Deno.readDir(store)) {
      if (entry.name.startsWith(`@foundry-rs+${pkg}@`)) {
        return fileURLToPath(
          new URL(`${entry.name}/node_modules/@foundry-rs/${pkg}/bin/${exe}`, store),
        );
      }
    }
  } catch (cause) {
    throw new Error("Cannot find forge: run `deno install` first", { cause });
  }
  throw new Error("Cannot find forge: run `deno install` (installs npm:@foundry-rs/forge)");
}

/** Runs forge in the repo root with the shim's Deno pinned to this one; returns its output. */
export async function forge(bin: string, args: string[]): Promise<{ ok: boolean; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(bin, {
    args,
    cwd: ROOT,
    env: { ARTHA_DENO: Deno.execPath(), FOUNDRY_OFFLINE: "true", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(10 * 60_000),
  }).output();
  const text = new TextDecoder();
  return { ok: code === 0, output: `${text.decode(stdout)}${text.decode(stderr)}` };
}

if (import.meta.main) {
  const { ok, output } = await forge(await findForge(), [
    "build",
    "--offline",
    "--contracts",
    FORGE_DIR,
  ]);
  console.log(output.trim());
  if (!ok) Deno.exit(1);
}
