/**
 * `deno task dataset` as a data owner runs it: a subprocess with the permissions the task
 * grants. Bad input prints one line (no stack trace), exits with status 2 and stores nothing.
 */
import assert from "node:assert/strict";
import { startDevnet } from "../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../lib/chain/client.ts";
import { arthaDIDRegistryAbi, arthaDIDRegistryBytecode } from "../lib/abi/ArthaDIDRegistry.ts";
import { generateNodeKey } from "../lib/crypto/keys.ts";
import { type EncKey, generateEncKey } from "../lib/crypto/enc_key.ts";
import { MemoryBlockstore } from "../lib/store/memory_blockstore.ts";
import { openFsStore, Store } from "../lib/store/store.ts";
import { registerIdentity, resolveDid } from "../lib/did/resolve.ts";
import { grantAccess, openDataset, shareDataset } from "../lib/did/dataset_share.ts";
import { loadEncKey } from "../lib/crypto/enc_key.ts";
import { parseDid } from "../lib/did/did.ts";
import { bytesToHex } from "../lib/crypto/digest.ts";

const ROOT = new URL("../", import.meta.url);
/** The permissions of deno.json's `dataset` task, as deno task's shell passes them. */
const PERMISSIONS = (JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks
  .dataset as string).split(/\s+/).map((w) => w.replace(/^'|'$/g, "")).filter((w) =>
    w.startsWith("--allow-")
  );
/** A scratch folder inside the repository, which is all the task may read and write. */
async function scratch(): Promise<string> {
  await Deno.mkdir(new URL(".artha/", ROOT), { recursive: true });
  return await Deno.makeTempDir({ dir: new URL(".artha/", ROOT).pathname, prefix: "dataset-" });
}
/** anvil's first development key: holds only devnet coins. */
const DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

async function runCli(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...PERMISSIONS, "dataset.ts", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ARTHA_GATEWAY: "", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("dataset CLI: bad input is one line on stderr, status 2, nothing stored", async (t) => {
  const dir = await scratch();
  const publish = {
    ARTHA_PRIVATE_KEY: DEV_KEY,
    // Nothing listens there: bad input must fail before the chain is asked anything.
    ARTHA_RPC_URL: "http://127.0.0.1:9",
    ARTHA_ADDRESSES: JSON.stringify({ dids: `0x${"11".repeat(20)}` }),
  };
  const owner = `did:artha:${"ab".repeat(32)}`;
  await Deno.writeTextFile(`${dir}/ragged.csv`, "age,zip\n34,94110\n35,94112,extra\n");
  await Deno.writeTextFile(`${dir}/people.csv`, "age,zip\n34,94110\n35,94112\n");
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    [
      "a missing file",
      ["prepare", `${dir}/missing.csv`, "--dry-run"],
      {},
      /missing\.csv: no such file$/,
    ],
    [
      // Found in a new user's walkthrough: named only once every other problem was fixed.
      "a missing file, with the other problems",
      ["prepare", `${dir}/missing.csv`],
      {},
      /missing\.csv: no such file; .*--owner/,
    ],
    [
      "a malformed CSV",
      [
        "prepare",
        `${dir}/ragged.csv`,
        "--owner",
        owner,
        "--grant",
        owner,
        "--store",
        `${dir}/svdb`,
      ],
      publish,
      /ragged\.csv: line 3 has 3 fields, the header 2$/,
    ],
    [
      "an unknown column",
      [
        "prepare",
        `${dir}/people.csv`,
        "--k",
        "2",
        "--quasi",
        "age,city",
        "--store",
        `${dir}/svdb`,
        "--owner",
        owner,
        "--grant",
        owner,
      ],
      publish,
      /Cannot find column "city"/,
    ],
    [
      "k larger than the rows",
      ["prepare", `${dir}/people.csv`, "--k", "3", "--quasi", "age", "--dry-run"],
      {},
      /k=3: the dataset has only 2 rows$/,
    ],
    ["an unknown flag", ["prepare", `${dir}/people.csv`, "--kay", "3"], {}, /kay/],
    [
      "every bad flag at once",
      ["prepare", `${dir}/people.csv`, "--format", "xml", "--k", "0", "--expires", "yesterday"],
      publish,
      /--format must be one of text, jsonl, csv, got xml; --k must be an integer >= 1, got 0; --owner \(ARTHA_OWNER_DID\) is not set.*; --expires must be a future/,
    ],
    [
      "no owner DID",
      ["prepare", `${dir}/people.csv`],
      { ...publish, ARTHA_OWNER_DID: "" },
      /--owner/,
    ],
    [
      // Found in the data owner audit: with no grant the dataset was registered sealed with a
      // key nobody held.
      "no grant",
      ["prepare", `${dir}/people.csv`, "--owner", owner, "--store", `${dir}/svdb`],
      publish,
      /--grant names no DID: a published dataset opens only with a grant/,
    ],
    [
      // Found in the data owner audit: the prepared copy replaced the raw original.
      "--prepared is the input",
      ["prepare", `${dir}/people.csv`, "--dry-run", "--prepared", `${dir}/people.csv`],
      {},
      /--prepared is the input .*people\.csv: the prepared text would replace it/,
    ],
    [
      "--out is the input",
      ["prepare", `${dir}/people.csv`, "--dry-run", "--out", `${dir}/people.csv`],
      {},
      /--out is the input .*people\.csv: the report would replace it/,
    ],
    [
      // Found in the data owner audit: the report was written after publishing, so a bad path
      // lost the record of what was published.
      "--out in a missing folder",
      ["prepare", `${dir}/people.csv`, "--dry-run", "--out", `${dir}/missing/report.json`],
      {},
      /Cannot write --out .*missing\/report\.json: .*missing is not a folder/,
    ],
    [
      "a malformed DID",
      ["prepare", `${dir}/people.csv`, "--owner", "did:artha:xyz", "--grant", owner],
      publish,
      /did:artha:xyz/,
    ],
  ];
  for (const [name, args, env, message] of cases) {
    await t.step(name, async () => {
      // Execute
      const { code, stdout, stderr } = await runCli(args, env);
      // Assert
      assert.equal(code, 2, stderr);
      assert.equal(stdout, "");
      const lines = stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, stderr);
      assert.match(lines[0]!, message);
      assert.doesNotMatch(stderr, /\bat .*\.ts:\d+/);
    });
  }
  await assert.rejects(Deno.stat(`${dir}/svdb`), Deno.errors.NotFound); // nothing stored
  assert.equal(await Deno.readTextFile(`${dir}/people.csv`), "age,zip\n34,94110\n35,94112\n");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("dataset CLI: a dry run writes the report and the prepared file", async () => {
  // Prepare
  const dir = await scratch();
  await Deno.writeTextFile(`${dir}/notes.txt`, "Mail jane.doe@example.com or call 415-555-0132.\n");
  // Execute
  const { code, stdout } = await runCli([
    "prepare",
    `${dir}/notes.txt`,
    "--dry-run",
    "--out",
    `${dir}/report.json`,
    "--prepared",
    `${dir}/notes.out.txt`,
  ]);
  // Assert
  assert.equal(code, 0);
  assert.match(stdout, /redacted 2 items in 1 line: email 1, phone 1/);
  assert.equal(await Deno.readTextFile(`${dir}/notes.out.txt`), "Mail [EMAIL] or call [PHONE].\n");
  const report = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
  assert.equal(report.redaction.total, 2);
  assert.equal(report.published, null);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("dataset CLI: publishes to a local store and grants a DID on anvil", async () => {
  // Prepare: the DID registry, an owner (anvil's first account, DEV_KEY) and a grantee
  await using net = await startDevnet({ accounts: 3 });
  const [owner, grantee, stranger] = net.accounts.map((account) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account })
  ) as [ArthaClient, ArthaClient, ArthaClient];
  const hash = await owner.deployContract({
    abi: arthaDIDRegistryAbi,
    bytecode: arthaDIDRegistryBytecode,
    args: [],
  });
  const addresses = { dids: (await owner.waitForTransactionReceipt({ hash })).contractAddress! };
  const documents = new Store(new MemoryBlockstore());
  const identity = (client: ArthaClient, encKey: Pick<EncKey, "publicKeyHex">) =>
    registerIdentity(client, {
      addresses,
      store: documents,
      authKey: generateNodeKey(),
      encKey: encKey.publicKeyHex,
    });
  const ownerId = await identity(owner, generateEncKey());
  const granteeEnc = generateEncKey();
  const granteeId = await identity(grantee, granteeEnc);
  const dir = await scratch();
  await Deno.writeTextFile(
    `${dir}/people.csv`,
    "age,zip,note\n34,94110,call 415-555-0132\n35,94112,ok\n",
  );
  const env = {
    ARTHA_PRIVATE_KEY: DEV_KEY,
    ARTHA_RPC_URL: net.rpcUrl,
    ARTHA_CHAIN_ID: String(net.chainId),
    ARTHA_ADDRESSES: JSON.stringify(addresses),
    ARTHA_OWNER_DID: ownerId.did,
    ARTHA_STORE_DIR: `${dir}/svdb`,
  };
  const grantTo = (did: string) =>
    runCli(["prepare", `${dir}/people.csv`, "--k", "2", "--quasi", "age,zip", "--grant", did], env);
  // Attacker: a grantee whose key no data key can be wrapped to (a low-order point, which the
  // registry takes). Found in the DID audit: the dataset was registered on chain before the wrap
  // failed, with a stack trace, and the data key was lost.
  const lowOrder = await identity(stranger, { publicKeyHex: `0x01${"00".repeat(31)}` });
  const sentBefore = await owner.getTransactionCount({ address: owner.account.address });
  const refused = await grantTo(lowOrder.did);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr.trim(), new RegExp(`^Cannot grant ${lowOrder.did}: .*low-order`));
  assert.equal(await owner.getTransactionCount({ address: owner.account.address }), sentBefore);
  // Execute
  const { code, stdout, stderr } = await grantTo(granteeId.did);
  // Assert: the grantee opens what the CLI stored
  assert.equal(code, 0, stderr);
  assert.match(stdout, /granted did:artha:[0-9a-f]{64} in tx 0x[0-9a-f]{64}/);
  const report = JSON.parse(await Deno.readTextFile(`${dir}/people.csv.report.json`));
  assert.equal(report.kAnonymity.kReached, 2);
  assert.equal(report.redaction.counts.phone, 1);
  const opened = await openDataset(grantee, {
    addresses,
    store: await openFsStore(`${dir}/svdb`),
    datasetId: report.published.datasetId,
    granteeDid: granteeId.didHash,
    encSecretKey: granteeEnc.secretKey,
  });
  assert.equal(
    new TextDecoder().decode(opened),
    "age,zip,note\n34-35,9411*,call [PHONE]\n34-35,9411*,ok\n",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("dataset CLI: `did` makes a DID whose document resolves and whose key opens a grant", async () => {
  // Found in a new user's walkthrough: `prepare` asks for --owner and --grant DIDs, and nothing
  // made one. Prepare: the DID registry on anvil; a data owner with a DID of its own.
  await using net = await startDevnet({ accounts: 2 });
  const [deployer, owner] = net.accounts.map((account) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account })
  ) as [ArthaClient, ArthaClient];
  const hash = await deployer.deployContract({
    abi: arthaDIDRegistryAbi,
    bytecode: arthaDIDRegistryBytecode,
    args: [],
  });
  const addresses = { dids: (await deployer.waitForTransactionReceipt({ hash })).contractAddress! };
  const documents = new Store(new MemoryBlockstore());
  const ownerId = await registerIdentity(owner, {
    addresses,
    store: documents,
    authKey: generateNodeKey(),
    encKey: generateEncKey().publicKeyHex,
  });
  const dir = await scratch();
  const env = {
    ARTHA_PRIVATE_KEY: DEV_KEY, // the grantee's account: anvil's first
    ARTHA_RPC_URL: net.rpcUrl,
    ARTHA_CHAIN_ID: String(net.chainId),
    ARTHA_ADDRESSES: JSON.stringify(addresses),
    ARTHA_STORE_DIR: `${dir}/svdb`,
  };

  // Execute: an account with no gas tries first (found in the DID audit: its key files were
  // written before the transaction failed, for a DID that never existed); then a grantee makes
  // its DID with the CLI.
  const broke = {
    ...env,
    ARTHA_PRIVATE_KEY: bytesToHex(crypto.getRandomValues(new Uint8Array(32))),
  };
  const refused = await runCli(["did", "--keys", `${dir}/broke`], broke);
  const made = await runCli(["did", "--keys", `${dir}/did`], env);

  // Assert: the first one wrote nothing and said why.
  assert.notEqual(refused.code, 0);
  assert.match(
    refused.stderr,
    /did:artha:[0-9a-f]{64} was not created, and nothing was written: .*holds 0 ETH/,
  );
  assert.equal(await Deno.stat(`${dir}/broke`).catch(() => null), null, "no key file");

  // Assert: the DID resolves from the store, its key files are private, and its encryption key
  // opens a dataset granted to it.
  assert.equal(made.code, 0, made.stderr);
  const did = /created (did:artha:[0-9a-f]{64})/.exec(made.stdout)?.[1];
  assert.ok(did, made.stdout);
  const store = await openFsStore(`${dir}/svdb`);
  try {
    const resolved = await resolveDid(deployer, { addresses, store, did });
    assert.equal(resolved.didDocument.id, did);
    const files = [...Deno.readDirSync(`${dir}/did`)].map((e) => `${dir}/did/${e.name}`).sort();
    assert.equal(files.length, 2);
    for (const f of files) assert.equal((await Deno.stat(f)).mode! & 0o777, 0o600);
    const encKey = await loadEncKey(files.find((f) => f.endsWith(".enc.key"))!);
    const plaintext = new TextEncoder().encode("patient,age\nA,41\n");
    const { datasetId, dataKey } = await shareDataset(owner, {
      addresses,
      store,
      ownerDid: ownerId.didHash,
      plaintext,
    });
    await grantAccess(owner, { addresses, store, datasetId, dataKey, granteeDid: parseDid(did) });
    const opened = await openDataset(deployer, {
      addresses,
      store,
      datasetId,
      granteeDid: parseDid(did),
      encSecretKey: encKey.secretKey,
      record: false,
    });
    assert.deepEqual(opened, plaintext);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dataset CLI: the report and the prepared file are readable by their owner only", async () => {
  // Found in the data owner audit: both were written 0644, and the prepared file is the shared
  // dataset unencrypted. An earlier run's 0644 files are narrowed too.
  // Prepare
  const dir = await scratch();
  await Deno.writeTextFile(`${dir}/notes.txt`, "Mail jane.doe@example.com.\n");
  await Deno.writeTextFile(`${dir}/report.json`, "{}", { mode: 0o644 });
  await Deno.chmod(`${dir}/report.json`, 0o644);
  // Execute
  const { code, stderr } = await runCli([
    "prepare",
    `${dir}/notes.txt`,
    "--dry-run",
    "--out",
    `${dir}/report.json`,
    "--prepared",
    `${dir}/notes.out.txt`,
  ]);
  // Assert
  assert.equal(code, 0, stderr);
  for (const file of ["report.json", "notes.out.txt"]) {
    assert.equal((await Deno.stat(`${dir}/${file}`)).mode! & 0o777, 0o600, file);
  }
  await Deno.remove(dir, { recursive: true });
});
