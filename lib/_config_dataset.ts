/**
 * The settings of `deno task dataset prepare`, read by lib/config.ts readDatasetSettings. Private
 * to lib/config.ts. DIDs are checked by dataset.ts (lib/did parses them).
 *
 * @module
 */
import { DEFAULT_MAX_GAS_PRICE_GWEI } from "./chain/client.ts";
import type { FlagValues, SettingsReader } from "./_config_reader.ts";
import {
  bool,
  type ChainEndpoint,
  chainEndpoint,
  finish,
  NETWORK_DIR,
  OPERATOR_KEY,
  parseFlags,
  refuseOperatorKey,
  str,
} from "./_config_shared.ts";

const FORMATS = ["text", "jsonl", "csv"] as const;
const QUASI_KINDS = ["range", "mask", "category"] as const;

/** What `deno task dataset prepare` runs with. */
export interface DatasetSettings {
  /** The input file (absolute). */
  input: string;
  options: {
    format?: (typeof FORMATS)[number];
    textColumns?: string[];
    drop?: string[];
    k?: number;
    quasi?: { column: string; kind?: (typeof QUASI_KINDS)[number] }[];
    maxSuppression?: number;
  };
  /** The JSON report (absolute; default `<input>.report.json`). */
  out: string;
  /** Where the prepared plaintext is also written (absolute), if asked. */
  prepared?: string;
  quiet: boolean;
  /** Undefined with --dry-run: nothing is stored or sent. */
  publish?: DatasetPublishSettings;
}

/** Where `deno task dataset did` makes a DID, and where its keys go. */
export interface DidCreateSettings {
  endpoint: ChainEndpoint;
  privateKey: `0x${string}`;
  /** The most a unit of gas may cost the account (wei), as the worker's --max-gas-price. */
  maxFeePerGas: bigint;
  /** The addresses file or JSON, and the name to blame for it. */
  addresses: { text: string; name: string; file?: string };
  /** Upload through this coordinator, else into the local store. */
  gateway?: string;
  storeDir: string;
  /** The folder the DID's key files are written to (absolute; `dataset did` only). */
  keyDir?: string;
  quiet?: boolean;
}

/** Where and to whom a prepared dataset goes. */
export interface DatasetPublishSettings extends DidCreateSettings {
  /** The owner DID and the grantees' as given (dataset.ts parses them). */
  owner: string;
  grants: string[];
  /** Unix seconds the grants end. */
  expiresAt?: bigint;
}

const DATASET_FLAGS = {
  format: str,
  "text-column": { type: "string", multiple: true },
  drop: { type: "string", multiple: true },
  k: str,
  quasi: { type: "string", multiple: true },
  "max-suppression": str,
  owner: str,
  grant: { type: "string", multiple: true },
  expires: str,
  store: str,
  gateway: str,
  rpc: str,
  "chain-id": str,
  addresses: str,
  out: str,
  prepared: str,
  "dry-run": bool,
  quiet: bool,
  "max-gas-price": str,
} as const;

const USAGE = "deno task dataset prepare <input> [--k N --quasi COLS] [--drop COLS] " +
  "[--text-column COLS] --owner DID [--grant DID]... [--dry-run] [--out FILE]";

/** "a,b" given once or more, as one list. */
function list(r: SettingsReader, flag: string): string[] | undefined {
  const v = r.flags[flag];
  const values = Array.isArray(v) ? v.map(String) : typeof v === "string" ? [v] : [];
  const all = values.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
  return all.length ? all : undefined;
}

function options(r: SettingsReader): DatasetSettings["options"] {
  const quasi = list(r, "quasi")?.map((spec) => {
    const [column, kind] = spec.split(":") as [string, string | undefined];
    if (kind !== undefined && !(QUASI_KINDS as readonly string[]).includes(kind)) {
      r.fail("--quasi", `${spec}: the kind must be range, mask or category`);
    }
    return { column, kind: kind as (typeof QUASI_KINDS)[number] | undefined };
  });
  return {
    format: r.choice({ flag: "format" }, FORMATS),
    textColumns: list(r, "text-column"),
    drop: list(r, "drop"),
    k: r.int({ flag: "k" }, undefined, 1),
    quasi,
    maxSuppression: r.number({ flag: "max-suppression" }, undefined, 0, 1),
  };
}

/** Grants further ahead than this are a mistake, not a plan (seconds). */
const MAX_EXPIRY_AHEAD_S = 100 * 365.25 * 86_400;

/** --expires as Unix seconds: an ISO date or a number of seconds, in the future. */
function expiry(r: SettingsReader): bigint | undefined {
  const value = r.raw({ flag: "expires" }).text;
  if (value === undefined) return undefined;
  const numeric = /^\d+$/.test(value);
  const seconds = numeric ? Number(value) : Date.parse(value) / 1000;
  const now = Date.now() / 1000;
  // Milliseconds (Date.now()) read as seconds made a grant that ends in the year 58,000.
  if (numeric && seconds > 1e11) {
    return r.fail(
      "--expires",
      `looks like milliseconds, got ${value}: give Unix seconds (divide by 1000) or an ISO date`,
    );
  }
  if (seconds > now + MAX_EXPIRY_AHEAD_S) {
    return r.fail("--expires", `is more than 100 years ahead, got ${value}: give a nearer date`);
  }
  if (seconds > now) return BigInt(Math.floor(seconds));
  return r.fail("--expires", `must be a future ISO date or Unix time, got ${value}`);
}

function publish(r: SettingsReader): DatasetPublishSettings {
  const owner = r.text(
    { flag: "owner", variable: "ARTHA_OWNER_DID" },
    undefined,
    "the dataset owner's did:artha:<hex>",
  );
  const at = target(r, "the account that controls the owner DID");
  const grants = list(r, "grant") ?? [];
  // A dataset is sealed with a fresh key that only grants carry: published with none, nobody
  // (its owner included) could ever open it (found in the data owner audit).
  if (grants.length === 0) {
    r.fail(
      "--grant",
      "names no DID: a published dataset opens only with a grant (give --grant DID, or " +
        "--dry-run to prepare without publishing)",
    );
  }
  return { ...at, owner: owner ?? "", grants, expiresAt: expiry(r) };
}

/** The chain, the account, the addresses and the store or gateway a command sends to. */
function target(r: SettingsReader, account: string): DidCreateSettings {
  const privateKey = r.privateKey(OPERATOR_KEY, account);
  const source = {
    flag: "addresses",
    variable: "ARTHA_ADDRESSES",
    aliases: ["ARTHA_ADDRESSES_FILE"],
  };
  const given = r.raw(source);
  const text = given.text ?? `${NETWORK_DIR}/addresses.json`;
  const json = text.trim().startsWith("{");
  // --store picks the local store even when ARTHA_GATEWAY is set; --gateway always uploads.
  const storeFlag = r.raw({ flag: "store" }).text !== undefined;
  const gatewaySource = storeFlag
    ? { flag: "gateway" }
    : { flag: "gateway", variable: "ARTHA_GATEWAY" };
  const gateway = r.raw(gatewaySource).text === undefined
    ? undefined
    : r.url(gatewaySource, "", "a coordinator that takes signed uploads");
  return {
    endpoint: chainEndpoint(r, true),
    privateKey: privateKey!,
    // As the worker's (lib/config.ts): found in the job owner audit, the data owner's sends (its
    // DID, the dataset's registration and grants) had no cap on the fee the RPC fills in.
    maxFeePerGas: r.amount(
      { flag: "max-gas-price", variable: "ARTHA_MAX_GAS_PRICE" },
      DEFAULT_MAX_GAS_PRICE_GWEI * 10n ** 9n,
      9,
    )!,
    addresses: { text, name: given.name, file: json ? undefined : r.resolve(text, given.name) },
    gateway,
    storeDir: r.path({ flag: "store", variable: "ARTHA_STORE_DIR" }, `${NETWORK_DIR}/svdb`),
  };
}

const DID_FLAGS = {
  store: str,
  gateway: str,
  rpc: str,
  "chain-id": str,
  addresses: str,
  keys: str,
  quiet: bool,
  "max-gas-price": str,
} as const;

/** See lib/config.ts readDatasetDidSettings. */
export function readDatasetDid(
  args: string[],
  reader: (flags: FlagValues) => SettingsReader,
): DidCreateSettings {
  const { values, positionals } = parseFlags(args, DID_FLAGS, "deno task dataset did");
  const r = reader(values);
  refuseOperatorKey(r, positionals);
  if (positionals.length !== 1 || positionals[0] !== "did") {
    r.fail(positionals.join(" "), "is not a dataset command (usage: deno task dataset did)");
  }
  const settings: DidCreateSettings = {
    ...target(r, "the account that will control the DID (pays gas)"),
    keyDir: r.path({ flag: "keys" }, `${NETWORK_DIR}/did`),
    quiet: r.flag("quiet"),
  };
  finish(r);
  return settings;
}

/** See lib/config.ts readDatasetSettings. */
export function readDataset(
  args: string[],
  reader: (flags: FlagValues) => SettingsReader,
): DatasetSettings {
  const { values, positionals } = parseFlags(args, DATASET_FLAGS, "deno task dataset");
  const r = reader(values);
  refuseOperatorKey(r, positionals);
  const [command, input, ...extra] = positionals;
  if (command !== "prepare" || !input || extra.length) {
    const usage = `${USAGE}, or deno task dataset did`;
    r.fail(positionals.join(" ") || "<command>", `is not a dataset command (usage: ${usage})`);
  }
  const file = r.resolve(input ?? ".");
  // With the other settings: found in a new user's walkthrough, a missing input was named only
  // after every other problem had been fixed.
  if (input) {
    let found: Deno.FileInfo | undefined;
    try {
      found = Deno.statSync(file);
    } catch (e) {
      // Anything else (a file this task may not read) is the reading's to report, in its words.
      if (!(e instanceof Deno.errors.NotFound)) found = undefined;
      else r.fail(`${file}:`, "no such file");
    }
    if (found && !found.isFile) r.fail(`${file}:`, "is a folder, not a file");
  }
  const prepared = r.raw({ flag: "prepared" }).text;
  const out = r.path({ flag: "out" }, `${file}.report.json`);
  const preparedPath = prepared === undefined ? undefined : r.resolve(prepared, "--prepared");
  // Either written over the input replaced the owner's raw original (found in the data owner
  // audit: `prepare a.csv --prepared a.csv` left only the redacted copy).
  if (out === file) r.fail("--out", `is the input ${file}: the report would replace it`);
  if (preparedPath === file) {
    r.fail("--prepared", `is the input ${file}: the prepared text would replace it`);
  }
  if (preparedPath !== undefined && preparedPath === out) {
    r.fail("--prepared", `is --out ${out}: the report and the prepared text would share a file`);
  }
  const settings: DatasetSettings = {
    input: file,
    options: options(r),
    out,
    prepared: preparedPath,
    quiet: r.flag("quiet"),
    publish: r.flag("dry-run") ? undefined : publish(r),
  };
  finish(r);
  return settings;
}
