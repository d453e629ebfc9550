/**
 * Every environment variable and command-line flag ArthaTrain reads, in one place: the
 * coordinator's functions, the worker, the chain, deploy, job and inference CLIs, the model cache
 * and the devnet take their settings from here, so the names, defaults and error messages are the
 * same everywhere. Each program's settings are read and checked at start by one `read*Settings`
 * function, which reports every problem at once in a {@link ConfigError} (one line, each problem
 * naming its flag or variable and what it expects). Programs report a ConfigError through
 * lib/network/cli.ts runCli: one line, exit status 2. (The kernel's inference runtime still falls
 * back to ARTHA_INFER_BACKEND itself when its caller passes no backend: it also runs in browsers
 * and sits below lib/; `deno task infer` passes the one read here.)
 *
 * Relative paths start in the folder `deno task` was run from (INIT_CWD), else the current one.
 * The pieces behind the readers are private to this module: `_config_reader.ts` (one setting
 * from its flag, variable or default, checked), `_config_shared.ts` (chain endpoint, addresses,
 * flags, ConfigError), `_config_job.ts` (the job owner's flags), `_config_worker.ts` (the
 * worker's key and folders), `_config_infer.ts`, `_config_demo.ts` and `_config_dataset.ts`;
 * only this module reads the environment.
 *
 * @example
 * ```ts
 * import { ConfigError, env, readWorkerSettings } from "./config.ts";
 * console.assert(env.storeDir().length > 0);
 * try {
 *   readWorkerSettings(["--poll", "x"], { readFiles: false });
 * } catch (e) {
 *   console.assert(e instanceof ConfigError && e.problems.some((p) => p.variable === "--poll"));
 * }
 * ```
 */
import type { ArthaAddresses } from "./chain/contracts.ts";
import { DEFAULT_MAX_GAS_PRICE_GWEI } from "./chain/client.ts";
import { STORE_KINDS, type StoreKind } from "./store/open_store.ts";
import { type FlagValues, SettingsReader } from "./_config_reader.ts";
import {
  type AddressesSetting,
  bool,
  type ChainEndpoint,
  chainEndpoint,
  ConfigError,
  DEFAULT_ADDRESSES_FILE,
  DEFAULT_CHAIN_ID,
  DEFAULT_COORDINATOR,
  finish,
  NETWORK_DIR,
  OPERATOR_KEY,
  parseFlags,
  readAddresses,
  refuseCleartext,
  refuseOperatorKey,
  str,
} from "./_config_shared.ts";
import { type JobSettings, readJob } from "./_config_job.ts";
import { checkWorkerFiles } from "./_config_worker.ts";
import { INFER_BACKENDS, type InferSettings, readInfer } from "./_config_infer.ts";
import { type DemoSettings, readDemo } from "./_config_demo.ts";
import {
  type DatasetSettings,
  type DidCreateSettings,
  readDataset,
  readDatasetDid,
} from "./_config_dataset.ts";

export type { ConfigProblem } from "./_config_reader.ts";
export {
  type AddressesSetting,
  type ChainEndpoint,
  ConfigError,
  DEFAULT_ADDRESSES_FILE,
  DEFAULT_CHAIN_ID,
  DEFAULT_COORDINATOR,
  DEFAULT_RPC_URL,
  HelpRequested,
  NETWORK_DIR,
} from "./_config_shared.ts";
export type { JobSettings, JobSubmitSettings } from "./_config_job.ts";
export { INFER_BACKENDS, type InferSettings } from "./_config_infer.ts";
export { DEMO_DEFAULTS, type DemoSettings } from "./_config_demo.ts";
export type {
  DatasetPublishSettings,
  DatasetSettings,
  DidCreateSettings,
} from "./_config_dataset.ts";

/** Variables this process was refused reading (see {@link get}). */
const deniedVariables = new Set<string>();

function get(name: string): string | undefined {
  let v: string | undefined;
  try {
    v = Deno.env.get(name);
  } catch (e) {
    // A sandboxed process may not read every variable: unset, but a required one says why.
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      deniedVariables.add(name);
    }
    return undefined;
  }
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
  /** The deployment's contract addresses: a file or their JSON (ARTHA_ADDRESSES). */
  addressesJson: (): string | undefined => get("ARTHA_ADDRESSES"),
  /** The same, required. */
  requireAddressesJson: (): string => required("ARTHA_ADDRESSES"),
  /** A file holding the same JSON (ARTHA_ADDRESSES_FILE, the older name). */
  addressesFile: (): string | undefined => get("ARTHA_ADDRESSES_FILE"),
  /** Deno KV path of the coordinator (ARTHA_KV_PATH; see readCoordinatorSettings). */
  kvPath: (): string | undefined => get("ARTHA_KV_PATH"),
  /** SVDB directory (ARTHA_STORE_DIR, default .artha/svdb). */
  storeDir: (): string => get("ARTHA_STORE_DIR") ?? `${NETWORK_DIR}/svdb`,
  /** A coordinator to read SVDB through instead of a local store (ARTHA_GATEWAY). */
  gateway: (): string | undefined => get("ARTHA_GATEWAY"),
  /** The coordinator clients talk to (ARTHA_COORDINATOR). */
  coordinator: (): string | undefined => get("ARTHA_COORDINATOR"),
  /** Whether the aggregate/finalize crons run (ARTHA_CRON=off turns them off). */
  cron: (): boolean => get("ARTHA_CRON") !== "off",
  /** The user's home directory (HOME, default the current directory). */
  home: (): string => get("HOME") ?? ".",
  /** The folder `deno task` was started from (INIT_CWD), where relative paths start. */
  baseDir: (): string => {
    const init = get("INIT_CWD");
    if (init) return init;
    try {
      return Deno.cwd();
    } catch {
      return ".";
    }
  },
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
  /** A Chromium for browser workers in the demo and tests (CHROMIUM_PATH, else Debian's). */
  chromiumPath: (): string => get("CHROMIUM_PATH") ?? "/usr/bin/chromium",
  /** ARTHA_DEBUG=1 (or true, yes, on) prints the stack trace of a command line's failure. */
  debug: (): boolean =>
    ["1", "true", "yes", "on"].includes(get("ARTHA_DEBUG")?.toLowerCase() ?? ""),
  /** The inference backend the coordinator's runtime uses (ARTHA_INFER_BACKEND; unchecked). */
  inferBackend: (): string | undefined => get("ARTHA_INFER_BACKEND"),
  /** Where `deno serve` listens when told by the environment (DENO_SERVE_ADDRESS). */
  serveAddress: (): string | undefined => get("DENO_SERVE_ADDRESS"),
  /** Set on Deno Deploy (DENO_DEPLOYMENT_ID): KV and SVDB paths do not apply there. */
  onDeploy: (): boolean => get("DENO_DEPLOYMENT_ID") !== undefined,
};

/**
 * `path` made absolute: relative paths start in the folder `deno task` was run from (INIT_CWD),
 * else the current one; `~/` is the home directory.
 */
export function resolvePath(path: string): string {
  return reader().resolve(path);
}

/** Reads ArthaTrain's settings from `flags` and the environment. */
function reader(flags: FlagValues = {}): SettingsReader {
  return new SettingsReader(flags, get, env.baseDir(), (name) => deniedVariables.has(name));
}

// ---- the coordinator (`deno task serve`, Deno Deploy functions) ----

/** The SVDB settings of the coordinator (lib/coordinator/context.ts CoordinatorConfig). */
export interface SvdbSettings {
  maxFileBytes?: number;
  uploadQuotaBytes?: number;
  uploadQuotaWindowMs?: number;
  uploadDidPoolBytes?: number;
  uploadLeaseMs?: number;
  uploadSignatureWindowMs?: number;
  uploadWriters?: string[];
  /** The origins this coordinator is reached at (ARTHA_PUBLIC_ORIGIN, comma-separated): signed
   * reads of private data must be signed for one of them. */
  publicOrigins?: string[];
}

/** What the coordinator runs with. */
export interface CoordinatorSettings extends ChainEndpoint {
  privateKey: `0x${string}`;
  deployment: AddressesSetting & { addresses: ArthaAddresses };
  /** Deno KV file (undefined: Deno's own, as on Deno Deploy). */
  kvPath?: string;
  storeDir: string;
  /** SVDB backend (ARTHA_STORE): fs, kv (the coordinator's Deno KV), helia or memory. */
  store: StoreKind;
  cron: boolean;
  /** Only the SVDB settings that were set. */
  svdb: SvdbSettings;
  /** The inference backend of /ai/infer and /v1/completions (ARTHA_INFER_BACKEND, auto). */
  inferBackend: InferSettings["backend"];
  /** Only the per-client inference limits that were set (ARTHA_INFER_CLIENT_*, ...). */
  inferLimits: InferLimitSettings;
  /** Reverse proxies whose X-Forwarded-For names the client (ARTHA_TRUSTED_PROXIES). */
  trustedProxies: string[];
  /** The JSON-RPC URL GET /info gives browser workers (ARTHA_PUBLIC_RPC_URL). */
  publicRpcUrl?: string;
  /** The most wei a unit of gas may cost the coordinator's account (ARTHA_MAX_GAS_PRICE, gwei). */
  maxFeePerGas: bigint;
}

/** The inference limits a coordinator's environment may set (lib/coordinator/model_limits.ts). */
export interface InferLimitSettings {
  clientGenerations?: number;
  clientColdPerMinute?: number;
  minResidenceMs?: number;
  unservableTtlMs?: number;
}

/** ARTHA_INFER_CLIENT_GENERATIONS, _CLIENT_COLD_PER_MINUTE, _MIN_RESIDENCE_MS, _UNSERVABLE_TTL_MS. */
function readInferLimits(r: SettingsReader): InferLimitSettings {
  const limits: InferLimitSettings = {
    clientGenerations: r.int({ variable: "ARTHA_INFER_CLIENT_GENERATIONS" }, undefined, 1),
    clientColdPerMinute: r.int({ variable: "ARTHA_INFER_CLIENT_COLD_PER_MINUTE" }, undefined, 1),
    minResidenceMs: r.int({ variable: "ARTHA_INFER_MIN_RESIDENCE_MS" }, undefined, 0),
    unservableTtlMs: r.int({ variable: "ARTHA_INFER_UNSERVABLE_TTL_MS" }, undefined, 0),
  };
  return Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined));
}

/**
 * The coordinator's settings from the environment: ARTHA_RPC_URL, ARTHA_CHAIN_ID,
 * ARTHA_PRIVATE_KEY (required), ARTHA_ADDRESSES (file or JSON, default .artha/addresses.json),
 * ARTHA_KV_PATH (default .artha/coordinator.kv; `deno` for Deno's own), ARTHA_STORE (fs, kv,
 * helia or memory; default kv on Deno Deploy, else fs), ARTHA_STORE_DIR,
 * ARTHA_CRON (on|off), ARTHA_INFER_BACKEND (auto, ort-node, ort-web, kernel), the
 * ARTHA_INFER_* per-client limits, ARTHA_TRUSTED_PROXIES, ARTHA_PUBLIC_ORIGIN,
 * ARTHA_PUBLIC_RPC_URL, ARTHA_MAX_GAS_PRICE (gwei, default 1,000) and the ARTHA_SVDB_* limits.
 *
 * @throws {ConfigError} naming every missing or unusable variable
 */
/**
 * DENO_SERVE_ADDRESS as `deno serve` reads it: tcp:HOST:PORT or unix:PATH. Found walking through
 * the README as a new user: `deno serve` said the format was invalid and listened on its default,
 * and a coordinator already there made the start report the configured address as in use.
 */
function checkServeAddress(r: SettingsReader): void {
  const set = env.serveAddress();
  if (set === undefined) return;
  const tcp = /^tcp:(\[[0-9a-fA-F:.]+\]|[^:\s\[\]]+):(\d{1,5})$/.exec(set);
  if (tcp ? Number(tcp[2]) <= 65_535 : /^unix:\S+$/.test(set)) return;
  r.fail(
    "DENO_SERVE_ADDRESS",
    `must be tcp:HOST:PORT (e.g. tcp:127.0.0.1:8788) or unix:PATH, got ${set}`,
  );
}

/**
 * Refuses a path this process may not write, naming where `deno task <task>` may. Found walking
 * through the README as a new user: a KV or store path outside `.artha/` failed at open with
 * Deno's raw "Requires write access ... run again with the --allow-write flag", which a task's
 * user cannot.
 */
function writable(r: SettingsReader, name: string, path: string, task = "serve"): boolean {
  if (Deno.permissions.querySync({ name: "write", path }).state === "granted") return true;
  r.fail(
    name,
    `must be a path this process may write (deno task ${task} writes only inside ` +
      `${NETWORK_DIR}/), got ${path}`,
  );
  return false;
}

export function readCoordinatorSettings(): CoordinatorSettings {
  const r = reader();
  const endpoint = chainEndpoint(r, false);
  const privateKey = r.privateKey(OPERATOR_KEY, "the coordinator's account, which pays its gas");
  const deployment = readAddresses(r, undefined, true);
  const kv = r.raw({ variable: "ARTHA_KV_PATH" }).text ??
    (env.onDeploy() ? "deno" : `${NETWORK_DIR}/coordinator.kv`);
  const cron = r.choice({ variable: "ARTHA_CRON" }, ["on", "off"] as const, "on");
  // Deno Deploy has no writable filesystem: its SVDB lives in the coordinator's KV.
  const store = r.choice({ variable: "ARTHA_STORE" }, STORE_KINDS, env.onDeploy() ? "kv" : "fs");
  const inferBackend = r.choice({ variable: "ARTHA_INFER_BACKEND" }, INFER_BACKENDS, "auto");
  const inferLimits = readInferLimits(r);
  const trustedProxies = r.ipList({ variable: "ARTHA_TRUSTED_PROXIES" });
  // As the worker's: the coordinator signs assignments, closes and challenges unattended.
  const maxFeePerGas = r.amount(
    { variable: "ARTHA_MAX_GAS_PRICE" },
    DEFAULT_MAX_GAS_PRICE_GWEI * 10n ** 9n,
    9,
  );
  checkServeAddress(r);
  const publicRpcUrl = r.raw({ variable: "ARTHA_PUBLIC_RPC_URL" }).text === undefined
    ? undefined
    : r.url({ variable: "ARTHA_PUBLIC_RPC_URL" }, "", "the JSON-RPC URL browsers are given");
  const ms = (name: string) => r.int({ variable: name }, undefined, 1);
  const svdb: SvdbSettings = {
    maxFileBytes: r.int({ variable: "ARTHA_SVDB_MAX_FILE_BYTES" }, undefined, 1),
    uploadQuotaBytes: r.int({ variable: "ARTHA_SVDB_UPLOAD_QUOTA_BYTES" }, undefined, 0),
    uploadQuotaWindowMs: ms("ARTHA_SVDB_UPLOAD_QUOTA_WINDOW_MS"),
    uploadDidPoolBytes: r.int({ variable: "ARTHA_SVDB_UPLOAD_DID_POOL_BYTES" }, undefined, 0),
    uploadLeaseMs: ms("ARTHA_SVDB_UPLOAD_LEASE_MS"),
    uploadSignatureWindowMs: ms("ARTHA_SVDB_UPLOAD_SIGNATURE_WINDOW_MS"),
    uploadWriters: r.raw({ variable: "ARTHA_SVDB_UPLOAD_WRITERS" }).text === undefined
      ? undefined
      : r.addressList({ variable: "ARTHA_SVDB_UPLOAD_WRITERS" }),
    publicOrigins: r.raw({ variable: "ARTHA_PUBLIC_ORIGIN" }).text === undefined
      ? undefined
      : r.originList({ variable: "ARTHA_PUBLIC_ORIGIN" }),
  };
  const kvPath = kv === "deno" ? undefined : r.resolve(kv);
  const storeDir = r.path({ variable: "ARTHA_STORE_DIR" }, `${NETWORK_DIR}/svdb`);
  if (kvPath) writable(r, "ARTHA_KV_PATH", kvPath);
  if (store === "fs" && storeDir) writable(r, "ARTHA_STORE_DIR", storeDir);
  finish(r);
  return {
    ...endpoint,
    privateKey: privateKey!,
    deployment: deployment as CoordinatorSettings["deployment"],
    kvPath,
    storeDir,
    store: store!,
    cron: cron === "on",
    svdb: Object.fromEntries(Object.entries(svdb).filter(([, v]) => v !== undefined)),
    inferBackend: inferBackend!,
    inferLimits,
    trustedProxies,
    ...(publicRpcUrl ? { publicRpcUrl } : {}),
    maxFeePerGas: maxFeePerGas!,
  };
}

// ---- the worker (`deno task worker [withdraw | settle <jobId>]`) ----

/** What a laptop worker runs with. */
export interface WorkerSettings extends ChainEndpoint {
  command: "run" | "withdraw" | "settle";
  /** settle: the job whose node's pay to get (0x and 64 hex digits, lower-cased). */
  jobId?: `0x${string}`;
  coordinator: string;
  privateKey: `0x${string}`;
  deployment: AddressesSetting;
  /** The Ed25519 node key file and the crash-state file (absolute). */
  key: string;
  state: string;
  pollMs: number;
  heartbeatMs: number;
  quiet: boolean;
  /** The most stake registration may lock (wei; default lib/worker/register.ts's, 10 ARTH). */
  maxStake?: bigint;
  /** The most a unit of gas may cost the operator (wei). */
  maxFeePerGas: bigint;
  /** The most bytes a training step may take (default: 3/4 of the machine's memory). */
  maxMemory?: number;
}

const gib = (n: number | undefined) => n === undefined ? undefined : Math.floor(n * 2 ** 30);

/** Default of --max-gas-price: far above an EVM chain's usual fees, far below a drain. */
export { DEFAULT_MAX_GAS_PRICE_GWEI };

const WORKER_FLAGS = {
  coordinator: str,
  rpc: str,
  "chain-id": str,
  addresses: str,
  dir: str,
  key: str,
  state: str,
  poll: str,
  "heartbeat-ms": str,
  quiet: bool,
  "max-stake": str,
  "max-gas-price": str,
  "max-memory": str,
};

/**
 * The worker's settings from its flags and the environment (flags win): --coordinator
 * (ARTHA_COORDINATOR), --rpc (ARTHA_RPC_URL), --chain-id (ARTHA_CHAIN_ID), --addresses
 * (ARTHA_ADDRESSES: file or JSON), --dir (default ~/.artha: node.key and worker.json in it),
 * --key, --state, --poll, --heartbeat-ms, --quiet, --max-stake (ARTHA_MAX_STAKE, ARTH, default
 * 10: the most registration may lock) and --max-gas-price (ARTHA_MAX_GAS_PRICE, gwei, default
 * 1,000: no transaction is signed above it), --max-memory (ARTHA_MAX_MEMORY, GiB, default 3/4
 * of the machine's: a task whose step needs more is refused); ARTHA_PRIVATE_KEY is the operator's key;
 * ARTHA_INSECURE_HTTP=1 allows plain http to another machine.
 * The key's and the state's folders must not be the home directory or above it, nor hold code
 * (this repository outside its .artha/, or a deno.json): the sandbox grants them; an existing key
 * must be mode 0600 and parse. `readFiles: false` leaves the addresses and key files unread (the
 * sandbox launcher may not read them).
 *
 * @throws {ConfigError} naming every missing or unusable setting
 */
export function readWorkerSettings(
  args: string[],
  options: { readFiles?: boolean } = {},
): WorkerSettings {
  const { values, positionals } = parseFlags(args, WORKER_FLAGS, "deno task worker");
  const r = reader(values);
  refuseOperatorKey(r, positionals);
  const [command = "run", ...rest] = positionals;
  if (command !== "run" && command !== "withdraw" && command !== "settle") {
    r.fail(command, "is not a worker command (run, the default, withdraw, or settle <jobId>)");
  }
  const jobId = command === "settle" ? rest.shift() : undefined;
  if (command === "settle" && jobId === undefined) {
    r.fail("settle", "needs the job's id after it: deno task worker settle <jobId>");
  } else if (command === "settle" && !/^0x[0-9a-fA-F]{64}$/.test(jobId!)) {
    r.fail(jobId!, "is not a job id (0x and 64 hex digits)");
  }
  if (rest.length) r.fail(rest.join(" "), "is not expected after the command");
  const coordinator = r.url(
    { flag: "coordinator", variable: "ARTHA_COORDINATOR" },
    DEFAULT_COORDINATOR,
    "the coordinator's base URL",
  );
  const endpoint = chainEndpoint(r, true);
  // Whoever sits between a worker and another host could rewrite its tasks, uploads' answers and
  // chain reads, and so make an honest node commit or attest what gets it slashed.
  refuseCleartext(r, [
    [coordinator, r.raw({ flag: "coordinator", variable: "ARTHA_COORDINATOR" }).name],
    [endpoint.rpcUrl, endpoint.names.rpcUrl],
  ], "get this node slashed");
  const privateKey = r.privateKey(OPERATOR_KEY, "the operator's key, which pays stake and gas");
  const deployment = readAddresses(r, "addresses", options.readFiles ?? true);
  const dir = r.path({ flag: "dir" }, "~/.artha");
  const key = r.path({ flag: "key" }, `${dir}/node.key`);
  const state = r.path({ flag: "state" }, `${dir}/worker.json`);
  const named = (flag: string, file: string) =>
    r.raw({ flag }).text !== undefined
      ? `--${flag}`
      : r.raw({ flag: "dir" }).text !== undefined
      ? `--dir (its ${file})`
      : `--dir (default ~/.artha, its ${file})`;
  const files = {
    key,
    keyName: named("key", "node.key"),
    state,
    stateName: named("state", "worker.json"),
  };
  // A key given where its file goes would be quoted back in every message about that file.
  if (/^(0x)?[0-9a-fA-F]{64}$/.test(r.raw({ flag: "key" }).text?.trim() ?? "")) {
    r.fail("--key", "is the node key FILE; the operator's key goes in ARTHA_PRIVATE_KEY");
  } else checkWorkerFiles(r, files, options.readFiles ?? true);
  const settings = {
    ...endpoint,
    command: command as WorkerSettings["command"],
    ...(jobId ? { jobId: jobId.toLowerCase() as `0x${string}` } : {}),
    coordinator: coordinator!,
    privateKey: privateKey!,
    deployment,
    key,
    state,
    pollMs: r.int({ flag: "poll" }, 1000, 100, 10 * 60_000)!,
    // Each heartbeat is a transaction the operator pays for; one rarer than the chain's default
    // window (an hour) is missed, which costs stake.
    heartbeatMs: r.int({ flag: "heartbeat-ms" }, 10 * 60_000, 1000, 60 * 60_000)!,
    quiet: r.flag("quiet"),
    maxStake: r.amount({ flag: "max-stake", variable: "ARTHA_MAX_STAKE" }, undefined, 18),
    maxFeePerGas: r.amount(
      { flag: "max-gas-price", variable: "ARTHA_MAX_GAS_PRICE" },
      DEFAULT_MAX_GAS_PRICE_GWEI * 10n ** 9n,
      9,
    )!,
    maxMemory: gib(r.number({ flag: "max-memory", variable: "ARTHA_MAX_MEMORY" }, undefined, 0.25)),
  };
  finish(r);
  return settings;
}

// ---- the local chain (`deno task chain`) and deployment (`deno task deploy`) ----

/** What `deno task chain` starts. */
export interface ChainSettings {
  port: number;
  chainId: number;
  accounts: number;
  balanceArth: number;
}

/**
 * The local chain's settings: --port (default ARTHA_RPC_URL's port, else 8545; it always binds
 * 127.0.0.1), --chain-id (ARTHA_CHAIN_ID, 31337), --accounts (10), --balance ARTH (10000).
 *
 * @throws {ConfigError} naming every unusable setting
 */
export function readChainSettings(args: string[]): ChainSettings {
  const flags = { port: str, "chain-id": str, accounts: str, balance: str };
  const { values, positionals } = parseFlags(args, flags, "deno task chain");
  const r = reader(values);
  refuseOperatorKey(r, positionals);
  if (positionals.length) r.fail(positionals.join(" "), "is not expected");
  let fallbackPort = 8545;
  const rpc = r.raw({ variable: "ARTHA_RPC_URL", aliases: ["ARTH_RPC_URL"] });
  if (rpc.text !== undefined) {
    const u = URL.parse(rpc.text);
    if (!u || !["127.0.0.1", "localhost"].includes(u.hostname)) {
      r.fail(
        rpc.name,
        `is ${rpc.text}, not a 127.0.0.1 URL: deno task chain starts a local chain ` +
          "(unset it, or point it at http://127.0.0.1:<port>)",
      );
    } else fallbackPort = Number(u.port || 80);
  }
  const settings = {
    port: r.int({ flag: "port" }, fallbackPort, 1, 65535)!,
    chainId: r.int({ flag: "chain-id", variable: "ARTHA_CHAIN_ID" }, DEFAULT_CHAIN_ID, 1)!,
    accounts: r.int({ flag: "accounts" }, 10, 1, 1000)!,
    balanceArth: r.int({ flag: "balance" }, 10_000, 1)!,
  };
  finish(r);
  return settings;
}

/** What `deno task deploy` deploys with and where it writes the addresses. */
export interface DeploySettings extends ChainEndpoint {
  privateKey: `0x${string}`;
  /** The addresses file to write (absolute). */
  out: string;
  /** Seconds between a job's last round and its settlement (default: the contract's 1 h). */
  settlementDelay?: number;
  /** More coordinator accounts to authorise besides the deployer. */
  coordinators: string[];
}

/**
 * Deploy's settings: --rpc, --chain-id, ARTHA_PRIVATE_KEY (the deployer, also a coordinator),
 * --out (ARTHA_ADDRESSES when it names a file, else .artha/addresses.json; a file the task may
 * write, checked before anything is sent), --settlement-delay
 * SECONDS, --coordinator-account ADDRESS[,ADDRESS].
 *
 * @throws {ConfigError} naming every missing or unusable setting
 */
export function readDeploySettings(args: string[]): DeploySettings {
  const flags = {
    rpc: str,
    "chain-id": str,
    out: str,
    "settlement-delay": str,
    "coordinator-account": str,
  };
  const { values, positionals } = parseFlags(args, flags, "deno task deploy");
  const r = reader(values);
  refuseOperatorKey(r, positionals);
  if (positionals.length) r.fail(positionals.join(" "), "is not expected");
  const endpoint = chainEndpoint(r, true);
  const privateKey = r.privateKey(OPERATOR_KEY, "the deployer's account, which pays the gas");
  const named = r.raw({ variable: "ARTHA_ADDRESSES" }).text;
  const outDefault = named && !named.trim().startsWith("{") ? named : DEFAULT_ADDRESSES_FILE;
  const out = r.path({ flag: "out" }, outDefault);
  const outName = values.out !== undefined
    ? "--out"
    : outDefault === named
    ? "ARTHA_ADDRESSES"
    : `--out (default ${DEFAULT_ADDRESSES_FILE})`;
  // Checked before anything is sent: found in the CLI audit, `--out addresses.json` paid for all
  // the deployment's transactions, then failed to write the addresses and lost them.
  if (writable(r, outName, out, "deploy") && isFolder(out)) {
    r.fail(outName, `is ${out}, a folder: name the file, e.g. ${out}/addresses.json`);
  }
  const settings = {
    ...endpoint,
    privateKey: privateKey!,
    out,
    settlementDelay: r.int({ flag: "settlement-delay" }, undefined, 0),
    coordinators: r.addressList({ flag: "coordinator-account" }),
  };
  finish(r);
  return settings;
}

/** Whether `path` is an existing folder (false when it is absent or cannot be read). */
function isFolder(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

// ---- the job owner (`deno task job submit|status|model`, lib/_config_job.ts) ----

/**
 * The job owner's settings: `submit` (a data set from --data FILE or the bundled Brown genres,
 * --shards, --rounds, --local-steps, --nodes, model size --layers --width --heads --context
 * --batch, --codec/--fraction/--parts, --optimizer/--lr, --synchronous (lib/job/recipe.ts),
 * --budget ARTH, --deadline SECONDS, --target-improvement PERCENT, --name, --store DIR,
 * --wait-nodes SECONDS; ARTHA_PRIVATE_KEY pays), `status [jobId] [--wait] [--timeout SECONDS]`
 * and `model [jobId] [--out DIR]`; all take --coordinator (ARTHA_COORDINATOR).
 *
 * @throws {ConfigError} naming every missing or unusable setting
 */
export function readJobSettings(args: string[]): JobSettings {
  return readJob(args, reader);
}

// ---- embedded inference (`deno task infer`, lib/_config_infer.ts) ----

/**
 * Inference's settings: --model (an artha:// URI, a CID or a folder; required) and the prompt,
 * --gateway (ARTHA_GATEWAY; given as a flag it is tried before the local store), --store
 * (ARTHA_STORE_DIR, default .artha/svdb), --cache (ARTHA_CACHE_DIR), --backend
 * (ARTHA_INFER_BACKEND: auto, ort-node, ort-web or kernel), --max-tokens, --temperature,
 * --top-k, --seed.
 *
 * @throws {ConfigError} naming every missing or unusable setting
 */
export function readInferSettings(args: string[]): InferSettings {
  return readInfer(args, reader);
}

// ---- the one-machine demo (`deno task demo`, lib/_config_demo.ts) ----

/**
 * The demo's settings: --nodes, --spares, --rounds, --local-steps, --drop, --width, --layers,
 * --strategy, --codec/--fraction/--parts, --robust, --dp/--epsilon, --verify, --hierarchical,
 * --secure-aggregation, --optimizer/--lr, --synchronous, --report, --out/--no-out, --store,
 * --browsers, --quiet.
 *
 * @throws {ConfigError} naming every unusable setting
 */
export function readDemoSettings(args: string[]): DemoSettings {
  return readDemo(args, reader);
}

// ---- the data owner (`deno task dataset prepare`, lib/_config_dataset.ts) ----

/**
 * The data owner's settings: `prepare <input>`, --format, --text-column, --drop, --k, --quasi,
 * --max-suppression, --out, --prepared, --quiet, --dry-run; unless a dry run: --owner
 * (ARTHA_OWNER_DID), --grant, --expires, --rpc, --chain-id, --addresses (ARTHA_ADDRESSES: file
 * or JSON with at least "dids"), ARTHA_PRIVATE_KEY, --gateway (ARTHA_GATEWAY) or --store
 * (ARTHA_STORE_DIR).
 *
 * @throws {ConfigError} naming every missing or unusable setting
 */
export function readDatasetSettings(args: string[]): DatasetSettings {
  return readDataset(args, reader);
}

/**
 * `deno task dataset did`'s settings: the chain, the account, the addresses, the store or
 * gateway for the DID document, and --keys (default .artha/did) for its key files.
 *
 * @throws {ConfigError} naming every bad setting
 */
export function readDatasetDidSettings(args: string[]): DidCreateSettings {
  return readDatasetDid(args, reader);
}
