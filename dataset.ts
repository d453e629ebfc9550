/**
 * The data owner's command: prepare a dataset for federated training and share it with DIDs.
 *
 *   export ARTHA_PRIVATE_KEY=0x...   # the account that controls the owner DID (pays gas)
 *   deno task dataset prepare people.csv --drop name,email --k 5 --quasi age,zip \
 *     --owner did:artha:<hex> --grant did:artha:<hex> --rpc http://127.0.0.1:8545 \
 *     --addresses addresses.json [--store .artha/svdb | --gateway http://127.0.0.1:8787]
 *   deno task dataset prepare notes.txt --dry-run --prepared notes.redacted.txt
 *
 * Flags (environment variable used when the flag is absent):
 *   --format text|jsonl|csv   input format (default: from the extension: .txt/.md, .jsonl, .csv)
 *   --text-column COLS        columns whose free text is redacted (default: all but --quasi)
 *   --drop COLS               columns removed outright (names, e-mails, ids)
 *   --k N --quasi COLS        k-anonymity over the quasi-identifier columns; a column may say
 *                             how it is generalised: age:range, zip:mask, job:category
 *   --max-suppression F       largest share of rows k-anonymity may drop (default 0.05)
 *   --owner DID               the dataset's owner DID (ARTHA_OWNER_DID)
 *   --grant DID               a DID given access; repeat or separate with commas
 *   --expires WHEN            when the grants end: ISO date or Unix seconds (default never)
 *   --store DIR               local SVDB (ARTHA_STORE_DIR, default .artha/svdb)
 *   --gateway URL             upload through a coordinator instead (ARTHA_GATEWAY)
 *   --rpc URL --chain-id N    the chain (ARTHA_RPC_URL, ARTHA_CHAIN_ID, default 31337)
 *   --addresses FILE          contract addresses JSON (ARTHA_ADDRESSES_FILE or ARTHA_ADDRESSES)
 *   --out FILE                the JSON report (default <input>.report.json)
 *   --prepared FILE           also write the prepared plaintext here, to inspect it
 *   --dry-run                 redact and anonymise only: nothing stored, nothing sent
 *   --quiet                   print nothing but errors
 *
 * Bad input (a missing or malformed file, an unknown column, k larger than the rows, an
 * unknown DID, a missing setting) prints one line and exits with status 2 before anything is
 * stored or sent; other failures exit with 1. The pipeline is lib/dataset/prepare.ts.
 */
import { parseArgs } from "node:util";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createArthaClient } from "./lib/chain/client.ts";
import { ConfigError, env } from "./lib/config.ts";
import { InvalidDidError, parseDid } from "./lib/did/did.ts";
import { openFsStore, type Store } from "./lib/store/store.ts";
import { DatasetInputError } from "./lib/dataset/dataset_error.ts";
import type { QuasiKind } from "./lib/dataset/anonymise.ts";
import type { DatasetFormat } from "./lib/dataset/read_records.ts";
import { prepareDataset, type PrepareOptions, type PublishTarget } from "./lib/dataset/prepare.ts";
import { formatReport, reportJson } from "./lib/dataset/report.ts";
import { type Upload, uploadToGateway, uploadToStore } from "./lib/dataset/upload.ts";
import type { GatewayOptions } from "./lib/worker/gateway.ts";
import { accountUploadSigner, uploadDomain } from "./lib/store/upload_signature.ts";

const USAGE = "usage: deno task dataset prepare <input> [--k N --quasi COLS] [--drop COLS] " +
  "[--text-column COLS] --owner DID [--grant DID]... [--dry-run] [--out FILE]";

type Flags = ReturnType<typeof parseFlags>["values"];

function parseFlags(args: string[]) {
  const text = { type: "string" } as const;
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      format: text,
      "text-column": { type: "string", multiple: true },
      drop: { type: "string", multiple: true },
      k: text,
      quasi: { type: "string", multiple: true },
      "max-suppression": text,
      owner: text,
      grant: { type: "string", multiple: true },
      expires: text,
      store: text,
      gateway: text,
      rpc: text,
      "chain-id": text,
      addresses: text,
      out: text,
      prepared: text,
      "dry-run": { type: "boolean" },
      quiet: { type: "boolean" },
    },
  });
}

/** A usage error: exit status 2 like bad input. */
class UsageError extends Error {}

/** "a,b" given once or more as one list. */
function list(values: string[] | undefined): string[] | undefined {
  const all = values?.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
  return all?.length ? all : undefined;
}

function number(name: string, value: string | undefined, min: number, max: number, int = true) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) {
    throw new UsageError(
      `--${name} must be ${int ? "an integer" : "a number"} in [${min}, ${max}]`,
    );
  }
  return n;
}

/** The record options from the flags. */
function prepareOptions(a: Flags): PrepareOptions {
  const formats = ["text", "jsonl", "csv"];
  if (a.format !== undefined && !formats.includes(a.format)) {
    throw new UsageError(`--format must be one of ${formats.join(", ")}, got ${a.format}`);
  }
  const quasi = list(a.quasi)?.map((spec) => {
    const [column, kind] = spec.split(":") as [string, string | undefined];
    if (kind !== undefined && !["range", "mask", "category"].includes(kind)) {
      throw new UsageError(`--quasi ${spec}: the kind must be range, mask or category`);
    }
    return { column, kind: kind as QuasiKind | undefined };
  });
  return {
    format: a.format as DatasetFormat | undefined,
    textColumns: list(a["text-column"]),
    drop: list(a.drop),
    k: number("k", a.k, 1, Number.MAX_SAFE_INTEGER),
    quasi,
    maxSuppression: number("max-suppression", a["max-suppression"], 0, 1, false),
  };
}

/** The deployment's addresses: --addresses file, ARTHA_ADDRESSES_FILE or ARTHA_ADDRESSES. */
async function readDidsAddress(
  path: string | undefined,
): Promise<{ dids: Hex; registry?: Hex }> {
  const where = path ?? env.addressesFile();
  let json: string;
  try {
    json = where === undefined ? env.requireAddressesJson() : await Deno.readTextFile(where);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new UsageError(`Cannot read --addresses ${where}: ${(e as Error).message}`);
  }
  const parsed = JSON.parse(json) as { dids?: string; registry?: string };
  const isAddress = (a: string | undefined) => /^0x[0-9a-fA-F]{40}$/.test(a ?? "");
  if (!isAddress(parsed.dids)) {
    throw new UsageError(`Cannot use addresses ${where ?? "ARTHA_ADDRESSES"}: no "dids" address`);
  }
  const registry = isAddress(parsed.registry) ? parsed.registry as Hex : undefined;
  return { dids: parsed.dids as Hex, registry };
}

/**
 * Uploads to the gateway, signed by the owner's account with its DID as credential, or to the
 * local store opened at the first upload.
 */
function uploader(a: Flags, signing: () => GatewayOptions): Upload {
  const gateway = a.gateway ?? (a.store ? undefined : env.gateway());
  if (gateway) return uploadToGateway(gateway, signing());
  let store: Store | undefined;
  return async (bytes) =>
    uploadToStore(store ??= await openFsStore(a.store ?? env.storeDir()))(bytes);
}

/** Where and to whom to publish, from the flags and the environment. */
async function publishTarget(a: Flags): Promise<PublishTarget> {
  const owner = a.owner ?? env.ownerDid();
  if (!owner) throw new UsageError("--owner DID is required (or ARTHA_OWNER_DID)");
  const ownerDid = parseDid(owner);
  const grantees = (list(a.grant) ?? []).map(parseDid);
  const expiresAt = expiry(a.expires);
  const key = env.requirePrivateKey();
  if (!/^0x[0-9a-fA-F]{64}$/.test(key)) {
    throw new UsageError("ARTHA_PRIVATE_KEY must be a 0x-prefixed 32-byte hex key");
  }
  const client = createArthaClient({
    rpcUrl: a.rpc ?? env.requireRpcUrl(),
    chainId: number("chain-id", a["chain-id"] ?? env.chainId() ?? "31337", 1, 2 ** 53)!,
    account: privateKeyToAccount(key as Hex),
  });
  const addresses = await readDidsAddress(a.addresses);
  // Gateway uploads are signed in the deployment's NodeCertRegistry domain (its "registry").
  const signing = (): GatewayOptions => {
    if (!addresses.registry) {
      throw new UsageError('Cannot upload through a gateway: the addresses have no "registry"');
    }
    const domain = uploadDomain(client.chain!.id, addresses.registry);
    return { signer: accountUploadSigner(client), domain, did: owner };
  };
  return { client, addresses, upload: uploader(a, signing), ownerDid, grantees, expiresAt };
}

/** --expires as Unix seconds: an ISO date or a number of seconds, in the future. */
function expiry(value: string | undefined): bigint | undefined {
  if (value === undefined) return undefined;
  const seconds = /^\d+$/.test(value) ? Number(value) : Date.parse(value) / 1000;
  if (!(seconds > Date.now() / 1000)) {
    throw new UsageError(`--expires ${value} is not a future date or Unix time`);
  }
  return BigInt(Math.floor(seconds));
}

async function main(args: string[]): Promise<void> {
  const { values: a, positionals } = parseFlags(args);
  const [command, input, ...extra] = positionals;
  if (command !== "prepare" || !input || extra.length) throw new UsageError(USAGE);
  const options = prepareOptions(a);
  const target = a["dry-run"] ? undefined : await publishTarget(a);
  const { report, plaintext } = await prepareDataset(input, options, target);
  await Deno.writeTextFile(a.out ?? `${input}.report.json`, reportJson(report));
  if (a.prepared) await Deno.writeFile(a.prepared, plaintext);
  if (!a.quiet) console.log(formatReport(report));
}

/** Bad input of any kind: exit 2, as the usage errors of worker.ts and infer.ts do. */
function isBadInput(e: unknown): boolean {
  return e instanceof DatasetInputError || e instanceof ConfigError ||
    e instanceof InvalidDidError || e instanceof UsageError ||
    String((e as { code?: unknown })?.code ?? "").startsWith("ERR_PARSE_ARGS");
}

/** The URL a failed request went to (viem's HttpRequestError, somewhere in the causes). */
function urlOf(e: unknown): string | undefined {
  for (let c = e, depth = 0; c && depth < 8; c = (c as Error).cause, depth++) {
    const url = (c as { url?: unknown }).url;
    if (typeof url === "string") return url;
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    const message = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    const where = urlOf(e) ? ` (${urlOf(e)})` : "";
    console.error(isBadInput(e) ? message : `Cannot prepare dataset: ${message}${where}`);
    Deno.exit(isBadInput(e) ? 2 : 1);
  }
}
