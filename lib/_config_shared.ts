/**
 * What the programs' settings share (lib/config.ts reads them): the error that names every bad
 * setting, the defaults of a local network, the chain endpoint, the deployment's addresses (a
 * file or their JSON) and flag parsing. Private to lib/config.ts and its `_config_*` helpers.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { ArthaAddresses } from "./chain/contracts.ts";
import type { ConfigProblem, FlagValues, SettingsReader, Source } from "./_config_reader.ts";

/** Settings that are missing or unusable; the message names every one of them. */
export class ConfigError extends Error {
  readonly code = "CONFIG";
  /** The first problem's flag or variable. */
  readonly variable: string;
  readonly problems: readonly ConfigProblem[];
  constructor(variable: string | readonly ConfigProblem[], message = "") {
    const problems = typeof variable === "string" ? [{ variable, message }] : variable;
    super(
      `Cannot read configuration: ${problems.map((p) => `${p.variable} ${p.message}`).join("; ")}`,
    );
    this.name = "ConfigError";
    this.variable = problems[0]?.variable ?? "";
    this.problems = problems;
  }
}

/** The local chain `deno task chain` starts and every program uses by default. */
export const DEFAULT_RPC_URL = "http://127.0.0.1:8545";
export const DEFAULT_CHAIN_ID = 31337;
/** Where `deno task serve` listens and clients look for it by default. */
export const DEFAULT_COORDINATOR = "http://127.0.0.1:8787";
/** The folder of a local network's files (addresses, coordinator state, owner state). */
export const NETWORK_DIR = ".artha";
/** What `deno task deploy` writes and the others read. */
export const DEFAULT_ADDRESSES_FILE = `${NETWORK_DIR}/addresses.json`;

// ---- pieces of every program's settings ----

/** A chain endpoint, and the names its values came from (for messages). */
export interface ChainEndpoint {
  rpcUrl: string;
  chainId: number;
  /** The flag or variable each value came from. */
  names: { rpcUrl: string; chainId: string };
}

/** Where a deployment's contract addresses come from and, once read, what they are. */
export interface AddressesSetting {
  /** The flag or variable they came from (or the default file). */
  name: string;
  /** The file they are read from (absolute), unless given as JSON. */
  file?: string;
  /** Undefined when the file was not read (`readFiles: false`). */
  addresses?: ArthaAddresses;
}

const CONTRACTS = [
  "registry",
  "reputation",
  "jobs",
  "proofs",
  "models",
  "dids",
  "verification",
  "disputes",
] as const;

export function finish(r: SettingsReader): void {
  if (r.problems.length) throw new ConfigError(r.problems);
}

export function chainEndpoint(r: SettingsReader, flags: boolean): ChainEndpoint {
  const rpc: Source = {
    flag: flags ? "rpc" : undefined,
    variable: "ARTHA_RPC_URL",
    aliases: ["ARTH_RPC_URL"],
  };
  const id: Source = { flag: flags ? "chain-id" : undefined, variable: "ARTHA_CHAIN_ID" };
  return {
    rpcUrl: r.url(rpc, DEFAULT_RPC_URL, "the chain's JSON-RPC endpoint") ?? "",
    chainId: r.int(id, DEFAULT_CHAIN_ID, 1) ?? 0,
    names: { rpcUrl: r.raw(rpc).name, chainId: r.raw(id).name },
  };
}

export const OPERATOR_KEY: Source = { variable: "ARTHA_PRIVATE_KEY" };

/** A private key as 64 lowercase hex digits, or undefined when `text` is none. */
const bareKey = (text: string | undefined) => {
  const hex = text?.trim().replace(/^0x/i, "").toLowerCase();
  return hex !== undefined && /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
};

/**
 * Refuses the operator's key given as a flag's value or an argument, before anything quotes it:
 * found in the CLI audit, `worker --key 0x<key>` printed the key back in "--key is ..., which
 * does not exist" (and the shell's history keeps it). Job ids look like keys, so only the
 * configured key itself is refused.
 */
export function refuseOperatorKey(r: SettingsReader, positionals: string[]): void {
  const key = bareKey(r.get("ARTHA_PRIVATE_KEY"));
  if (key === undefined) return;
  const given: [string, unknown][] = [
    ...Object.entries(r.flags).flatMap(([f, v]) =>
      (Array.isArray(v) ? v : [v]).map((x): [string, unknown] => [`--${f}`, x])
    ),
    ...positionals.map((p, i): [string, unknown] => [`argument ${i + 1}`, p]),
  ];
  const found = given.find(([, v]) => typeof v === "string" && bareKey(v) === key);
  if (found === undefined) return;
  throw new ConfigError(
    found[0],
    "is your ARTHA_PRIVATE_KEY: never pass it on the command line (shell history and ps keep " +
      "it); set only the variable, and leave it out of the command",
  );
}

export function readAddresses(r: SettingsReader, flag: string | undefined, read: boolean) {
  const source: Source = { flag, variable: "ARTHA_ADDRESSES", aliases: ["ARTHA_ADDRESSES_FILE"] };
  const { text, name: given } = r.raw(source);
  const name = text === undefined ? `ARTHA_ADDRESSES (default ${DEFAULT_ADDRESSES_FILE})` : given;
  const value = text ?? DEFAULT_ADDRESSES_FILE;
  if (value.trim().startsWith("{")) {
    return { name, addresses: parseAddresses(r, name, value, "its JSON") };
  }
  const file = r.resolve(value, name);
  if (!read) return { name, file };
  let json: string;
  try {
    json = Deno.readTextFileSync(file);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? `names ${file}, which does not exist`
      : `names ${file}, which cannot be read (${(e as Error).message})`;
    r.fail(
      name,
      `${why}: run \`deno task deploy\` (it writes ${DEFAULT_ADDRESSES_FILE}) or set it to ` +
        "the deployment's addresses file or JSON",
    );
    return { name, file };
  }
  return { name, file, addresses: parseAddresses(r, name, json, file) };
}

function parseAddresses(
  r: SettingsReader,
  name: string,
  json: string,
  where: string,
): ArthaAddresses | undefined {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    return r.fail(
      name,
      `must be the addresses file or JSON; ${where} is not JSON (${(e as Error).message})`,
    );
  }
  const missing = CONTRACTS.filter((c) => !/^0x[0-9a-fA-F]{40}$/.test(String(parsed?.[c] ?? "")));
  if (missing.length) {
    return r.fail(name, `has no 0x address for ${missing.join(", ")} in ${where}`);
  }
  return Object.fromEntries(CONTRACTS.map((c) => [c, parsed[c]])) as unknown as ArthaAddresses;
}

/** `--help` (or `-h`) given to a command: runCli prints its usage and exits 0. */
export class HelpRequested extends Error {
  readonly code = "HELP";
  /** @param program the command, e.g. "deno task demo" @param flags its flags */
  constructor(readonly program: string, readonly flags: string[]) {
    super(`usage: ${program} [flags]; flags: ${flags.join(", ")}`);
    this.name = "HelpRequested";
  }
}

/** parseArgs with its errors turned into configuration problems naming the flag. */
export function parseFlags(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  program: string,
): { values: FlagValues; positionals: string[] } {
  // Asked before anything is parsed: a new user's first try was told `--help` is not a flag.
  if (args.includes("--help") || args.includes("-h")) {
    throw new HelpRequested(program, Object.keys(options).map((o) => `--${o}`));
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, tokens: true });
  } catch (e) {
    throw flagError(e as Error, args, options, program);
  }
  // parseArgs keeps the last of a repeated flag: `--budget 1 --budget 1000` escrowed 1000.
  const seen = new Set<string>();
  for (const t of parsed.tokens) {
    if (t.kind !== "option" || options[t.name]?.type !== "string" || options[t.name]?.multiple) {
      continue;
    }
    if (seen.has(t.name)) {
      throw new ConfigError(`--${t.name}`, `is given twice: give it once, in ${program}`);
    }
    seen.add(t.name);
  }
  return { values: parsed.values as FlagValues, positionals: parsed.positionals };
}

/** parseArgs' error as the problem of the flag it names. */
function flagError(
  e: Error,
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  program: string,
): ConfigError {
  const flag = /'(--?[\w-]+)/.exec(e.message)?.[1] ?? args.join(" ");
  const known = Object.keys(options).map((o) => `--${o}`).join(", ");
  const code = (e as { code?: string }).code;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    return new ConfigError(flag, `is not a flag of ${program} (flags: ${known})`);
  }
  if (options[flag.replace(/^-+/, "")]?.type === "boolean") {
    return new ConfigError(flag, `takes no value: write ${flag} alone, or leave it out`);
  }
  // `--poll -5` is refused by parseArgs as a missing value; no flag takes a negative number.
  const next = args[args.indexOf(flag) + 1];
  if (next !== undefined && /^-\d/.test(next)) {
    return new ConfigError(flag, `must not be negative, got ${next}`);
  }
  return new ConfigError(
    flag,
    `needs a value (write ${flag}=VALUE when the value starts with -) in ${program}`,
  );
}

/**
 * --synchronous (the recipe of lib/job/recipe.ts) with what it fixes: --local-steps other than 1,
 * and each of `fixed` (flags the recipe sets itself), are refused beside it.
 */
export function readSynchronous(r: SettingsReader, fixed: string[]): boolean {
  if (!r.flag("synchronous")) return false;
  if ((r.raw({ flag: "local-steps" }).text ?? "1") !== "1") {
    r.fail("--local-steps", "must be 1 (or left out) with --synchronous: one step a round");
  }
  for (const flag of fixed) {
    if (r.raw({ flag }).text !== undefined) {
      r.fail(`--${flag}`, "cannot be set with --synchronous: SGD on the nodes, Adam on the server");
    }
  }
  return true;
}

export const str = { type: "string" } as const;
export const bool = { type: "boolean" } as const;

/**
 * Refuses plain http to another machine for each [url, setting name] unless ARTHA_INSECURE_HTTP=1:
 * only https, or http to this machine, is accepted. `risk` says what a man in the middle could do
 * to this command's user.
 */
export function refuseCleartext(
  r: SettingsReader,
  urls: [string | undefined, string][],
  risk: string,
): void {
  if (r.get("ARTHA_INSECURE_HTTP") === "1") return;
  for (const [url, name] of urls) {
    const u = url ? URL.parse(url) : null;
    if (!u) continue;
    const host = u.hostname.replace(/^\[|\]$/g, "");
    const loopback = host === "localhost" || host === "::1" || /^127\./.test(host);
    if (u.protocol === "http:" && !loopback) {
      r.fail(
        name,
        `is plain http to ${u.host}: use https (a man in the middle could ${risk}), or set ` +
          "ARTHA_INSECURE_HTTP=1 on a network you trust",
      );
    }
  }
}
