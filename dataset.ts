/**
 * The data owner's command: prepare a dataset for federated training and share it with DIDs.
 *
 *   export ARTHA_PRIVATE_KEY=0x...   # the account that controls the owner DID (pays gas)
 *   deno task dataset prepare people.csv --drop name,email --k 5 --quasi age,zip \
 *     --owner did:artha:<hex> --grant did:artha:<hex> --rpc http://127.0.0.1:8545 \
 *     --addresses addresses.json [--store .artha/svdb | --gateway http://127.0.0.1:8787]
 *   deno task dataset prepare notes.txt --dry-run --prepared notes.redacted.txt
 *   deno task dataset did [--keys .artha/did] [--store DIR | --gateway URL]   # a DID to own with
 *
 * Flags (environment variable used when the flag is absent):
 *   --format text|jsonl|csv   input format (default: from the extension: .txt/.md, .jsonl, .csv)
 *   --text-column COLS        quasi-identifier columns to redact too (every other column not
 *                             dropped is always redacted, and so are column names)
 *   --drop COLS               columns removed outright (names, e-mails, ids)
 *   --k N --quasi COLS        k-anonymity over the quasi-identifier columns; a column may say
 *                             how it is generalised: age:range, zip:mask, job:category
 *   --max-suppression F       largest share of rows k-anonymity may drop (default 0.05)
 *   --owner DID               the dataset's owner DID (ARTHA_OWNER_DID)
 *   --grant DID               a DID given access; repeat or separate with commas
 *   --expires WHEN            when the grants end: ISO date or Unix seconds (default never)
 *   --store DIR               local SVDB (ARTHA_STORE_DIR, default .artha/svdb)
 *   --gateway URL             upload through a coordinator instead (ARTHA_GATEWAY)
 *   --rpc URL --chain-id N    the chain (ARTHA_RPC_URL, default http://127.0.0.1:8545;
 *                             ARTHA_CHAIN_ID, default 31337)
 *   --addresses FILE          contract addresses: a file or their JSON (ARTHA_ADDRESSES, or
 *                             ARTHA_ADDRESSES_FILE; default .artha/addresses.json)
 *   --out FILE                the JSON report (default <input>.report.json)
 *   --prepared FILE           also write the prepared plaintext here, to inspect it
 *   --dry-run                 redact and anonymise only: nothing stored, nothing sent
 *   --quiet                   print nothing but errors (with `did`: only the DID)
 *   --keys DIR                `did` only: where the DID's key files go (default .artha/did)
 *   --max-gas-price GWEI      no transaction is signed above it (ARTHA_MAX_GAS_PRICE, default
 *                             1000), as for the worker
 *
 * Flags and variables are read and checked together by lib/config.ts readDatasetSettings;
 * relative paths start where `deno task` was run. Bad input (a missing or malformed file, an
 * unknown column, k larger than the rows, an unknown DID, a missing setting) prints one line and
 * exits with status 2 before anything is stored or sent; other failures exit with 1. The pipeline
 * is lib/dataset/prepare.ts.
 */
import { dirname } from "node:path";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createArthaClient } from "./lib/chain/client.ts";
import {
  type DatasetPublishSettings,
  readDatasetDidSettings,
  readDatasetSettings,
} from "./lib/config.ts";
import { type CreatedDid, createOwnerDid } from "./lib/dataset/create_did.ts";
import { InvalidDidError, parseDid } from "./lib/did/did.ts";
import { openFsStore, type Store } from "./lib/store/store.ts";
import { DatasetInputError } from "./lib/dataset/dataset_error.ts";
import { prepareDataset, type PublishTarget } from "./lib/dataset/prepare.ts";
import { formatReport, reportJson } from "./lib/dataset/report.ts";
import {
  didDocumentsToGateway,
  grantKeysToGateway,
  type Upload,
  uploadToGateway,
  uploadToStore,
} from "./lib/dataset/upload.ts";
import type { GatewayOptions } from "./lib/worker/gateway.ts";
import { accountUploadSigner, uploadDomain } from "./lib/store/upload_signature.ts";
import { runCli, UsageError } from "./lib/network/cli.ts";

/** The deployment's DID registry (and NodeCertRegistry, for gateway uploads). */
async function readDidsAddress(
  a: DatasetPublishSettings["addresses"],
): Promise<{ dids: Hex; registry?: Hex }> {
  let json = a.text;
  if (a.file !== undefined) {
    try {
      json = await Deno.readTextFile(a.file);
    } catch (e) {
      throw new UsageError(`Cannot read ${a.name} ${a.file}: ${(e as Error).message}`);
    }
  }
  let parsed: { dids?: string; registry?: string };
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    throw new UsageError(`Cannot use ${a.name}: not JSON (${(e as Error).message})`);
  }
  const isAddress = (x: string | undefined) => /^0x[0-9a-fA-F]{40}$/.test(x ?? "");
  if (!isAddress(parsed.dids)) {
    throw new UsageError(`Cannot use ${a.name} ${a.file ?? ""}: no "dids" address`);
  }
  const registry = isAddress(parsed.registry) ? parsed.registry as Hex : undefined;
  return { dids: parsed.dids as Hex, registry };
}

/**
 * Uploads to the gateway, signed by the owner's account with its DID as credential, or to the
 * local store opened at the first upload.
 */
function uploader(p: DatasetPublishSettings, signing: () => GatewayOptions): Upload {
  if (p.gateway) return uploadToGateway(p.gateway, signing());
  let store: Store | undefined;
  return async (bytes) => uploadToStore(store ??= await openFsStore(p.storeDir))(bytes);
}

/** Where and to whom to publish. */
async function publishTarget(p: DatasetPublishSettings): Promise<PublishTarget> {
  const ownerDid = parseDid(p.owner);
  const grantees = p.grants.map(parseDid);
  const client = createArthaClient({
    rpcUrl: p.endpoint.rpcUrl,
    chainId: p.endpoint.chainId,
    account: privateKeyToAccount(p.privateKey),
    maxFeePerGas: p.maxFeePerGas,
  });
  const addresses = await readDidsAddress(p.addresses);
  // Gateway uploads are signed in the deployment's NodeCertRegistry domain (its "registry").
  const signing = (): GatewayOptions => {
    if (!addresses.registry) {
      throw new UsageError('Cannot upload through a gateway: the addresses have no "registry"');
    }
    const domain = uploadDomain(client.chain!.id, addresses.registry);
    return { signer: accountUploadSigner(client), domain, did: p.owner };
  };
  const upload = uploader(p, signing);
  // Through a gateway, grants' keys go by POST /did/grant: the coordinator keeps them and the
  // dataset, which a plain upload there only leases for a day.
  const storeGrantKey = p.gateway ? grantKeysToGateway(p.gateway, signing()) : undefined;
  return { client, addresses, upload, storeGrantKey, ownerDid, grantees, expiresAt: p.expiresAt };
}

/**
 * Refuses, before anything is stored or sent, a path the report or the prepared text could not
 * be written to (found in the data owner audit: they were written after publishing, so a missing
 * folder or one outside the task's write permission lost the record of what was published).
 */
async function checkWritable(flag: string, path: string): Promise<void> {
  const why = (reason: string) => new UsageError(`Cannot write ${flag} ${path}: ${reason}`);
  if ((await Deno.permissions.query({ name: "write", path })).state !== "granted") {
    throw why("this run may not write there (deno task dataset writes only under its folder)");
  }
  const folder = await Deno.stat(dirname(path)).catch(() => null);
  if (!folder?.isDirectory) throw why(`${dirname(path)} is not a folder`);
}

/**
 * Writes `bytes` to `path` readable by its owner only. Deno applies `mode` to a file already
 * there too (an earlier run's, written 0644), before the bytes are written.
 */
async function writePrivate(path: string, bytes: Uint8Array): Promise<void> {
  await Deno.writeFile(path, bytes, { mode: PRIVATE_FILE_MODE });
}

/** Read and write for the owner only. */
const PRIVATE_FILE_MODE = 0o600;

/** `deno task dataset did`: a DID for this account, its keys written first. */
async function makeDid(args: string[]): Promise<void> {
  const s = readDatasetDidSettings(args);
  const client = createArthaClient({
    rpcUrl: s.endpoint.rpcUrl,
    chainId: s.endpoint.chainId,
    account: privateKeyToAccount(s.privateKey),
    maxFeePerGas: s.maxFeePerGas,
  });
  const addresses = await readDidsAddress(s.addresses);
  const keyDir = s.keyDir!;
  let made: CreatedDid;
  if (s.gateway) {
    const gateway = s.gateway;
    if (!addresses.registry) {
      throw new UsageError('Cannot upload through a gateway: the addresses have no "registry"');
    }
    const domain = uploadDomain(client.chain!.id, addresses.registry);
    const signer = accountUploadSigner(client);
    const upload = didDocumentsToGateway(gateway, { signer, domain });
    made = await createOwnerDid(client, { addresses, keyDir, upload });
  } else {
    const store = await openFsStore(s.storeDir);
    try {
      made = await createOwnerDid(client, { addresses, keyDir, store });
    } finally {
      await store.close();
    }
  }
  if (s.quiet) return console.log(made.did);
  console.log(
    [
      `created ${made.did} in tx ${made.tx}, controlled by ${client.account.address}`,
      `its keys (keep them; the encryption key opens what is granted to this DID):`,
      `  ${made.authKeyFile}`,
      `  ${made.encKeyFile}`,
      `use it: deno task dataset prepare FILE --owner ${made.did} --grant DID ...`,
    ].join("\n"),
  );
}

async function main(args: string[]): Promise<void> {
  // Flags may come before the command (`--quiet did`).
  if (args.includes("did") && !args.includes("prepare")) return await makeDid(args);
  const s = readDatasetSettings(args);
  await checkWritable("--out", s.out);
  if (s.prepared) await checkWritable("--prepared", s.prepared);
  try {
    const target = s.publish ? await publishTarget(s.publish) : undefined;
    const { report, plaintext } = await prepareDataset(s.input, s.options, target);
    // Owner-only: the prepared text is the shared dataset unencrypted, and the report names the
    // input and what was found in it (data owner audit: both were written 0644).
    await writePrivate(s.out, new TextEncoder().encode(reportJson(report)));
    if (s.prepared) await writePrivate(s.prepared, plaintext);
    if (!s.quiet) console.log(formatReport(report));
    const failed = report.published?.failed ?? [];
    if (failed.length) {
      // Published, and its record written; the grants missing are the run's failure.
      throw new Error(
        `Cannot grant ${failed.map((f) => f.did).join(", ")} (the others were granted; the ` +
          `report is in ${s.out}): ${failed[0]!.reason}. The data key is not kept, so a grant ` +
          "of this dataset cannot be added: run prepare again to publish it anew for them",
      );
    }
  } catch (e) {
    // The user's file, columns or DIDs: one line, exit 2, as a bad setting is.
    if (e instanceof DatasetInputError || e instanceof InvalidDidError) {
      throw new UsageError(e.message);
    }
    throw e;
  }
}

if (import.meta.main) {
  const action = Deno.args.includes("did") ? "make the DID" : "prepare dataset";
  await runCli(action, () => main(Deno.args));
}
