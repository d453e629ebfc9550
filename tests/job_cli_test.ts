/**
 * `deno task job` (job.ts) as its owner runs it, on anvil: what its record in .artha/last-job.json
 * lets the commands without a job id do.
 */
import assert from "node:assert/strict";
import { type Hex, parseEther, toHex } from "viem";
import { createArthaClient } from "../lib/chain/client.ts";
import { JobStatus } from "../lib/chain/contracts.ts";
import { deployArtha } from "../lib/chain/deploy.ts";
import { startDevnet } from "../lib/chain/devnet.ts";
import { readJob } from "../lib/chain/read_job.ts";
import { submitTrain } from "../lib/chain/submit_train.ts";
import { b32, devnetJobTerms } from "./lib/chain/_devnet_job.ts";

const JOB_TS = new URL("../job.ts", import.meta.url).pathname;

/**
 * An owner with one job escrowed (2 ARTH) on a fresh devnet, a folder whose last-job.json holds
 * `record(job)`, and `cancel()`: `job cancel` with no id run there. Call `close()` at the end.
 */
async function ownerFolder(record: (job: { jobId: Hex; hash: Hex }) => Record<string, unknown>) {
  const net = await startDevnet({ accounts: 2 });
  const at = { rpcUrl: net.rpcUrl, chainId: net.chainId };
  const addresses = await deployArtha(createArthaClient({ ...at, account: net.accounts[0]! }), {
    settlementDelay: 0,
  });
  const account = net.accounts[1]!;
  const owner = createArthaClient({ ...at, account });
  const job = await submitTrain(owner, {
    addresses,
    budget: parseEther("2"),
    terms: devnetJobTerms(1),
  });
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/.artha`);
  await Deno.writeTextFile(`${dir}/.artha/last-job.json`, JSON.stringify(record(job)));
  await Deno.writeTextFile(`${dir}/.artha/addresses.json`, JSON.stringify(addresses));
  const cancel = async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", JOB_TS, "cancel", "--rpc", net.rpcUrl, "--chain-id", `${net.chainId}`],
      cwd: dir,
      env: { ARTHA_PRIVATE_KEY: toHex(account.getHdKey().privateKey!), INIT_CWD: dir },
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { code: out.code, text };
  };
  const status = async () => (await readJob(owner, { addresses, jobId: job.jobId })).status;
  const close = async () => {
    await Deno.remove(dir, { recursive: true });
    await net[Symbol.asyncDispose]();
  };
  return { jobId: job.jobId, cancel, status, close };
}

Deno.test("owner: job cancel with no id finds a job whose submit was cut short by its escrow's hash", async () => {
  // Prepare: a submit cut short after its escrow was sent left a pending record: the id it read
  // from a simulation (here taken by another submit of the account in between) and the escrow's
  // transaction hash. Found in the job owner audit: `job cancel` without an id could not find a
  // job whose submit failed after paying.
  const f = await ownerFolder(({ hash }) => ({
    jobId: b32("9"),
    specCid: "bafy-spec",
    name: "n",
    txHash: hash,
    pending: true,
  }));
  try {
    // Execute
    const out = await f.cancel();

    // Assert: the mined job is cancelled and its whole budget withdrawn.
    assert.equal(out.code, 0, out.text);
    assert.match(
      out.text,
      new RegExp(`job ${f.jobId} cancelled before any node was assigned: 2 ARTH`),
    );
    assert.equal(await f.status(), JobStatus.Cancelled);
  } finally {
    await f.close();
  }
});

Deno.test("owner: job cancel with no id never cancels a job its record only guessed", async () => {
  // Found reviewing the record: a submit that failed before signing left a pending record naming
  // the id derived for it; the account's next job, submitted from another folder, took that id,
  // and `job cancel` here cancelled it. Prepare: that job, and a record of its id with no hash.
  const f = await ownerFolder(({ jobId }) => ({
    jobId,
    specCid: "bafy-spec",
    name: "n",
    pending: true,
  }));
  try {
    // Execute
    const out = await f.cancel();

    // Assert: refused, the other job untouched.
    assert.equal(out.code, 2, out.text);
    assert.match(out.text, /stopped before its escrow was signed, so nothing was escrowed/);
    assert.equal(await f.status(), JobStatus.Open);
  } finally {
    await f.close();
  }
});
