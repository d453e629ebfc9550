/**
 * Every environment variable ArthaTrain reads, in one place: the coordinator's functions, the
 * worker and inference CLIs, the model cache and the devnet take their settings from here, so
 * the names, defaults and error messages are the same everywhere. (The kernel's inference runtime
 * reads ARTHA_INFER_BACKEND itself: it also runs in browsers and sits below lib/.)
 *
 * @example
 * ```ts
 * import { env } from "./config.ts";
 * console.assert(env.storeDir().length > 0 && env.port() > 0);
 * ```
 */

/** A required setting is missing or unusable; the message names the variable. */
export class ConfigError extends Error {
  readonly code = "CONFIG";
  constructor(readonly variable: string, message: string) {
    super(`Cannot read configuration: ${variable} ${message}`);
    this.name = "ConfigError";
  }
}

function get(name: string): string | undefined {
  const v = Deno.env.get(name);
  return v === undefined || v === "" ? undefined : v;
}

function required(name: string, value: string | undefined = get(name)): string {
  if (value === undefined) throw new ConfigError(name, "is not set");
  return value;
}

/** The settings, each read when asked (tests may set variables between calls). */
export const env = {
  /** JSON-RPC endpoint of the chain (ARTHA_RPC_URL; ARTH_RPC_URL, the coin's name, also works). */
  rpcUrl: (): string | undefined => get("ARTHA_RPC_URL") ?? get("ARTH_RPC_URL"),
  /** The same, required. */
  requireRpcUrl: (): string => required("ARTHA_RPC_URL", env.rpcUrl()),
  /** Chain id (ARTHA_CHAIN_ID), as text so callers can report a bad value. */
  chainId: (): string | undefined => get("ARTHA_CHAIN_ID"),
  /** The same, required: a positive integer. */
  requireChainId: (): number => {
    const id = Number(required("ARTHA_CHAIN_ID"));
    if (!Number.isSafeInteger(id) || id <= 0) {
      throw new ConfigError("ARTHA_CHAIN_ID", "must be a positive integer");
    }
    return id;
  },
  /** The coordinator's or worker operator's EVM key (ARTHA_PRIVATE_KEY). */
  privateKey: (): string | undefined => get("ARTHA_PRIVATE_KEY"),
  /** The same, required. */
  requirePrivateKey: (): string => required("ARTHA_PRIVATE_KEY"),
  /** The deployment's contract addresses as JSON (ARTHA_ADDRESSES). */
  addressesJson: (): string | undefined => get("ARTHA_ADDRESSES"),
  /** The same, required. */
  requireAddressesJson: (): string => required("ARTHA_ADDRESSES"),
  /** A file holding the same JSON (ARTHA_ADDRESSES_FILE). */
  addressesFile: (): string | undefined => get("ARTHA_ADDRESSES_FILE"),
  /** Deno KV path of the coordinator (ARTHA_KV_PATH; default: Deno's own). */
  kvPath: (): string | undefined => get("ARTHA_KV_PATH"),
  /** SVDB directory (ARTHA_STORE_DIR, default .artha/svdb). */
  storeDir: (): string => get("ARTHA_STORE_DIR") ?? ".artha/svdb",
  /** A coordinator to read SVDB through instead of a local store (ARTHA_GATEWAY). */
  gateway: (): string | undefined => get("ARTHA_GATEWAY"),
  /** Port of `deno task serve` (PORT, default 8787). */
  port: (): number => Number(get("PORT") ?? "8787"),
  /** Interface it binds (HOST, default 127.0.0.1). */
  host: (): string => get("HOST") ?? "127.0.0.1",
  /** Whether the aggregate/finalize crons run (ARTHA_CRON=off turns them off). */
  cron: (): boolean => get("ARTHA_CRON") !== "off",
  /** The user's home directory (HOME, default the current directory). */
  home: (): string => get("HOME") ?? ".",
  /** Set by the worker's launcher in its sandboxed child (ARTHA_SANDBOXED). */
  sandboxed: (): boolean => get("ARTHA_SANDBOXED") === "1",
  /** Model cache root (ARTHA_CACHE_DIR, else $XDG_CACHE_HOME or ~/.cache, + arthatrain/models). */
  modelCacheDir: (): string =>
    get("ARTHA_CACHE_DIR") ??
      `${get("XDG_CACHE_HOME") ?? `${env.home()}/.cache`}/arthatrain/models`,
  /** The data owner's DID for `deno task dataset` (ARTHA_OWNER_DID, `did:artha:<hex>`). */
  ownerDid: (): string | undefined => get("ARTHA_OWNER_DID"),
  /** An anvil binary to use instead of the npm package's (ANVIL_BIN). */
  anvilBin: (): string | undefined => get("ANVIL_BIN"),
};
