/**
 * How every network command line ends: a user's error (bad settings, a failed preflight check,
 * a bad argument) prints one line and exits with status 2; any other failure prints one line,
 * "Cannot <action>: <reason> (<url>)", and exits with status 1. Never a stack trace, unless
 * ARTHA_DEBUG=1 asks for it.
 *
 * @example
 * ```ts ignore
 * import { runCli, UsageError } from "./cli.ts";
 * await runCli("submit job", async () => {
 *   throw new UsageError("give a job id");
 * }); // prints "give a job id", exits 2
 * ```
 */
import { ConfigError, env, HelpRequested } from "../config.ts";
import { PreflightError, reasonOf, redactUrl } from "./preflight.ts";
import { printable } from "./printable.ts";

/** A bad argument or request of the user's: exit status 2, like a ConfigError. */
export class UsageError extends Error {
  readonly code = "USAGE";
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** True for errors the user fixes by changing what they typed or configured. */
export function isUserError(e: unknown): boolean {
  return e instanceof ConfigError || e instanceof PreflightError || e instanceof UsageError;
}

/** The URL a failed request went to (viem's HttpRequestError), somewhere in the causes. */
export function urlOf(e: unknown): string | undefined {
  for (let c = e, depth = 0; c && depth < 8; c = (c as Error).cause, depth++) {
    const url = (c as { url?: unknown }).url;
    if (typeof url === "string") return url;
  }
  return undefined;
}

/** The one line a failure is reported with. */
export function describeFailure(action: string, e: unknown): string {
  // The reason may quote a coordinator's or a chain's error text, which could carry escape
  // sequences that forge lines on the terminal or set its clipboard.
  if (isUserError(e)) return printable((e as Error).message.split("\n")[0]!);
  const url = urlOf(e);
  if (!url) return printable(`Cannot ${action}: ${reasonOf(e)}`);
  // The URL may be the chain's, with an API key in it: shown by its host only, also where the
  // reason quotes it (fetch quotes it without the user and password).
  const shown = redactUrl(url);
  const u = URL.parse(url);
  const forms = [url, ...(u ? [`${u.protocol}//${u.host}${u.pathname}${u.search}`] : [])];
  const reason = forms.reduce((text, form) => text.replaceAll(form, shown), reasonOf(e));
  const where = reason.includes(shown) ? "" : ` (${shown})`;
  return printable(`Cannot ${action}: ${reason}${where}`);
}

/**
 * The usage a command prints for `--help`: the doc comment that opens its entry file (each says
 * how it is run, with examples), then its flags; the flags alone where the file cannot be read.
 */
export async function usageOf(help: HelpRequested, mainModule = Deno.mainModule): Promise<string> {
  const flags = `flags: ${help.flags.join(", ")}`;
  try {
    const source = await Deno.readTextFile(new URL(mainModule));
    const doc = /^\s*\/\*\*([\s\S]*?)\*\//.exec(source)?.[1];
    if (!doc) return `usage: ${help.program} [flags]\n${flags}`;
    const text = doc.split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n").trim();
    return `${text}\n\n${flags}\n(README.md has the whole story)`;
  } catch {
    return `usage: ${help.program} [flags]\n${flags}\n(README.md has the whole story)`;
  }
}

/** Runs `main`; reports a failure in one line and exits 2 (user error) or 1; `--help` exits 0. */
export async function runCli(action: string, main: () => Promise<unknown>): Promise<void> {
  try {
    await main();
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(await usageOf(e)); // our own file, not another party's text
      Deno.exit(0);
    }
    if (env.debug()) console.error(e);
    console.error(describeFailure(action, e));
    Deno.exit(isUserError(e) ? 2 : 1);
  }
}
