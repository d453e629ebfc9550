/**
 * `deno task job` (job.ts) as its owner runs it, on anvil: what its record in .artha/last-job.json
 * lets the commands without a job id do, and what a lying coordinator or RPC cannot make it do.
 */
import assert from "node:assert/strict";
import { type Hex, parseEther, toHex } from "viem";
import { createArthaClient } from "../lib/chain/client.ts";
import { JobStatus } from "../lib/chain/contracts.ts";
import { deployArtha } from "../lib/chain/deploy.ts";
import { startDevnet } from "../lib/chain/devnet.ts";
import { readJob } from "../lib/chain/read_job.ts";
import { submitTrain } from "../lib/chain/submit_train.ts";
import { assignNodes } from "../lib/chain/assign_nodes.ts";
import { LAPTOP_CAPS } from "../lib/worker/register.ts";
import { b32, devnetJobTerms, registerDevnetNode } from "./lib/chain/_devnet_job.ts";

const JOB_TS = new URL("../job.ts", import.meta.url).pathname;

/**
 * An owner with one job escrowed (2 ARTH) on a fresh devnet (assigned to a bound node when
 * `running`), a folder whose last-job.json holds `record(job)` (none for undefined), `run(args)`:
 * job.ts run there as the owner, and `cancel()`: `job cancel` with no id. Call `close()` at the
 * end.
 */
async function ownerFolder(
  record: (job: { jobId: Hex; hash: Hex }) => Record<string, unknown> | undefined,
  o: { running?: boolean } = {},
) {
  const net = await startDevnet({ accounts: 3 });
  const at = { rpcUrl: net.rpcUrl, chainId: net.chainId };
  const co = createArthaClient({ ...at, account: net.accounts[0]! });
  const addresses = await deployArtha(co, { settlementDelay: 0 });
  const account = net.accounts[1]!;
  const owner = createArthaClient({ ...at, account });
  const job = await submitTrain(owner, {
    addresses,
    budget: parseEther("2"),
    terms: devnetJobTerms(1),
  });
  const node = await registerDevnetNode(
    createArthaClient({ ...at, account: net.accounts[2]! }),
    addresses,
  );
  if (o.running) await assignNodes(co, { addresses, jobId: job.jobId, nodes: [node] });
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/.artha`);
  const recorded = record(job);
  if (recorded) {
    await Deno.writeTextFile(`${dir}/.artha/last-job.json`, JSON.stringify(recorded));
  }
  await Deno.writeTextFile(`${dir}/.artha/addresses.json`, JSON.stringify(addresses));
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const chain = ["--rpc", net.rpcUrl, "--chain-id", `${net.chainId}`];
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", JOB_TS, ...args, ...chain],
      cwd: dir,
      env: { ARTHA_PRIVATE_KEY: toHex(account.getHdKey().privateKey!), INIT_CWD: dir, ...env },
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    const [stdout, stderr] = [decode(out.stdout), decode(out.stderr)];
    return { code: out.code, stdout, stderr, text: stdout + stderr };
  };
  const cancel = () => run(["cancel"]);
  const status = async () => (await readJob(owner, { addresses, jobId: job.jobId })).status;
  const close = async () => {
    await Deno.remove(dir, { recursive: true });
    await net[Symbol.asyncDispose]();
  };
  /** What /info says of the deployment's coordinator (the deployer's account). */
  const info = { chainId: net.chainId, addresses, coordinator: co.account.address };
  return { jobId: job.jobId, hash: job.hash, node, dir, info, owner, run, cancel, status, close };
}

/** A coordinator on 127.0.0.1 answering `answer(path)` as JSON (404 for undefined). */
function coordinatorAnswering(answer: (path: string) => unknown) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const body = answer(new URL(req.url).pathname);
    return body === undefined ? new Response("no", { status: 404 }) : Response.json(body);
  });
  return { server, url: `http://127.0.0.1:${server.addr.port}` };
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

Deno.test("owner: a second submit is refused while the job a cut-short submit paid for is still open", async () => {
  // Prepare: submit #1 was cut short (Ctrl-C) after its escrow was sent: a pending record with the
  // escrow's hash, the job Open with its 2 ARTH. Found in the job owner audit: submit #2 replaced
  // the record before sending its own escrow, and nothing on disk named job #1 any more.
  const f = await ownerFolder(({ jobId, hash }) => ({
    jobId,
    specCid: "bafy-spec",
    name: "n",
    txHash: hash,
    pending: true,
  }));
  const c = coordinatorAnswering((path) =>
    path === "/info"
      ? f.info
      : path === "/status"
      ? { jobs: [], nodes: [{ nodePubkey: f.node, caps: LAPTOP_CAPS }], nodeCount: 1 }
      : undefined
  );
  const record = await Deno.readTextFile(`${f.dir}/.artha/last-job.json`);
  const nonce = await f.owner.getTransactionCount({ address: f.owner.account.address });
  await Deno.writeTextFile(`${f.dir}/notes.txt`, "the quick brown fox jumps. ".repeat(400));
  try {
    // Execute
    const out = await f.run([
      "submit",
      ...["--coordinator", c.url, "--data", "notes.txt", "--shards", "1", "--nodes", "1"],
      ...["--rounds", "1", "--local-steps", "2", "--layers", "1", "--width", "16"],
      ...["--heads", "2", "--context", "16", "--batch", "2", "--budget", "1"],
      ...["--store", `${f.dir}/.artha/svdb`, "--wait-nodes", "0"],
    ]);

    // Assert: refused naming job #1 and what to do; nothing sent, the record as it was.
    assert.equal(out.code, 2, out.text);
    assert.match(out.stderr, new RegExp(`job ${f.jobId}, whose submit .* was cut short`));
    assert.match(out.stderr, /deno task job start .* or deno task job cancel/);
    assert.equal(await f.owner.getTransactionCount({ address: f.owner.account.address }), nonce);
    assert.equal(await Deno.readTextFile(`${f.dir}/.artha/last-job.json`), record);
  } finally {
    await c.server.shutdown();
    await f.close();
  }
});

Deno.test("attacker: a coordinator's status cannot write escape sequences to the owner's terminal", async () => {
  // Prepare: a running job; the coordinator answers its status, and the list of jobs, with an
  // OSC 52 clipboard write and a line erase in fields the owner's terminal shows. Found in the
  // job owner audit: they were printed as they came.
  const f = await ownerFolder(() => undefined, { running: true });
  const osc = "\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2K\r";
  const view = {
    jobId: f.jobId,
    status: "running",
    round: 0,
    rounds: 1,
    assigned: [f.node],
    roundUpdates: osc,
    initialValLoss: 5.5,
    metrics: [],
    specCid: `bafy${osc}`,
  };
  const listed = { ...view, jobId: `0x${osc}`, roundUpdates: 0 };
  const asked = { byId: true };
  const c = coordinatorAnswering((path) =>
    path === "/status" ? (asked.byId ? view : { jobs: [listed] }) : undefined
  );
  try {
    // Execute: the job by id, then the list (no record in this folder).
    const one = await f.run(["status", f.jobId, "--coordinator", c.url]);
    asked.byId = false;
    const all = await f.run(["status", "--coordinator", c.url]);

    // Assert: both refused, naming the field; no escape character reached either stream.
    for (const [out, field] of [[one, "roundUpdates"], [all, "jobId"]] as const) {
      assert.equal(out.code, 1, out.text);
      assert.match(out.stderr, new RegExp(`${field} is not`));
      assert.ok(!out.text.includes("\x1b"), JSON.stringify(out.text));
    }
  } finally {
    await c.server.shutdown();
    await f.close();
  }
});

Deno.test("attacker: job status --wait refuses at once a job the coordinator calls completed while the chain has it open", async () => {
  // Prepare: the job is Open on chain (no node assigned); the coordinator says it completed, so
  // the owner waits for a settlement that never comes. Found in the job owner audit: --wait
  // checked the chain only once the coordinator said finalized.
  const f = await ownerFolder(({ jobId }) => ({ jobId, specCid: "bafy-spec", name: "n" }));
  const view = {
    jobId: f.jobId,
    status: "completed",
    round: 1,
    rounds: 1,
    assigned: [f.node],
    initialValLoss: 5.5,
    metrics: [],
    specCid: "bafy-spec",
  };
  const c = coordinatorAnswering((path) => path === "/status" ? view : undefined);
  try {
    // Execute
    const started = Date.now();
    const out = await f.run(["status", "--wait", "--timeout", "20", "--coordinator", c.url]);

    // Assert: refused at the first poll, naming what the chain says.
    assert.equal(out.code, 1, out.text);
    assert.match(out.stderr, /reports the job completed, the chain has it open/);
    assert.ok(Date.now() - started < 15_000, "refused before the timeout");
  } finally {
    await c.server.shutdown();
    await f.close();
  }
});

Deno.test("attacker: an RPC asking a fee above the owner's cap gets nothing signed", async () => {
  // Prepare: a cap of 1 wei a unit of gas, which the devnet's fee is above (as a lying RPC's
  // would be above the default 1,000 gwei). Found in the job owner audit: the owner's sends had
  // no cap at all (the worker's did).
  const f = await ownerFolder(({ jobId }) => ({ jobId, specCid: "bafy-spec", name: "n" }));
  const nonce = await f.owner.getTransactionCount({ address: f.owner.account.address });
  try {
    // Execute
    const out = await f.run(["cancel"], { ARTHA_MAX_GAS_PRICE: "0.000000001" });

    // Assert: refused before signing; the job is still open, nothing was sent.
    assert.equal(out.code, 1, out.text);
    assert.match(out.stderr, /above this account's cap of 0\.000000001 gwei/);
    assert.equal(await f.status(), JobStatus.Open);
    assert.equal(await f.owner.getTransactionCount({ address: f.owner.account.address }), nonce);
  } finally {
    await f.close();
  }
});
