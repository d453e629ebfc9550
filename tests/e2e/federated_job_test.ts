/**
 * End to end: a small job trained by workers running as separate processes (`worker.ts`),
 * talking HTTP to the coordinator functions, also a separate process (`functions/router.ts`),
 * on a local anvil chain. Mid-run, 30% of the workers are killed: their tasks move to spare
 * nodes and the job still completes. The coordinator is killed during an aggregation and
 * restarted: no round is counted twice.
 */
import assert from "node:assert/strict";
import { until } from "./_until.ts";
import { bytesToHex, parseEther } from "viem";
import type { Hex } from "viem";
import { type Devnet, freePort, startDevnet } from "../../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../../lib/chain/client.ts";
import { deployArtha } from "../../lib/chain/deploy.ts";
import { abis, type ArthaAddresses, JobStatus } from "../../lib/chain/contracts.ts";
import { submitTrain } from "../../lib/chain/submit_train.ts";
import { jobSpecHash, workTerms } from "../../lib/job/job_spec.ts";
import { prepareJob } from "../../lib/job/job_owner.ts";
import { openFsStore } from "../../lib/store/store.ts";
import { accountUploadSigner, signJson, uploadDomain } from "../../lib/store/upload_signature.ts";
import { loadBrownShards } from "../../kernel/data.ts";
import type { JobRecord } from "../../lib/coordinator/state.ts";

const WORKERS = 10;
const KILLED = 3;
const SPARES = 3;
const ROUNDS = 3;
const root = new URL("../../", import.meta.url).pathname;

/** One run's chain, job and processes. */
interface Run {
  net: Devnet;
  dir: string;
  procs: Deno.ChildProcess[];
  coordinator: ArthaClient;
  coordKey: Hex;
  addresses: ArthaAddresses;
  addressesFile: string;
  jobId: Hex;
  specCid: string;
  url: string;
  port: number;
  api: ReturnType<typeof apiOf>;
  /** The job's owner: it alone starts the job (POST /assign, signed). */
  owner: ArthaClient;
}

/** Deploys, and the owner publishes and escrows a tiny 3-round job for 10 laptops. */
async function setUp(net: Devnet, dir: string, procs: Deno.ChildProcess[]): Promise<Run> {
  const [coordAcct, ownerAcct] = net.accounts;
  const client = (account: typeof coordAcct) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: account! });
  const coordinator = client(coordAcct);
  const addresses = await deployArtha(coordinator, { settlementDelay: 0 });
  const addressesFile = `${dir}/addresses.json`;
  await Deno.writeTextFile(addressesFile, JSON.stringify(addresses));
  // The job owner publishes a tiny job in the coordinator's SVDB directory.
  const store = await openFsStore(`${dir}/svdb`);
  const { spec, specCid } = await prepareJob(store, {
    model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
    shards: loadBrownShards().slice(0, 5),
    rounds: ROUNDS,
    localSteps: 3,
    B: 4,
    T: 16,
    deadlineMs: 4_000,
  });
  await store.close();
  const { jobId } = await submitTrain(client(ownerAcct), {
    addresses,
    budget: parseEther("20"),
    terms: {
      modelCid: spec.initialWeights,
      datasetCid: spec.shards[0]!.cid,
      paramsHash: jobSpecHash(spec),
      rounds: ROUNDS,
      nodesWanted: WORKERS,
      redundancy: 1,
      baseRatePerSecond: parseEther("0.001"),
      targetImprovementBps: 100,
      ...workTerms(spec),
    },
  });
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const coordKey = bytesToHex(coordAcct!.getHdKey().privateKey!);
  const base = { net, dir, procs, coordinator, coordKey, addresses, addressesFile, jobId };
  return { ...base, owner: client(ownerAcct), specCid, url, port, api: apiOf(url) };
}

/** JSON calls to the coordinator; a non-2xx answer throws with its body. */
function apiOf(url: string) {
  return async (path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init = body === undefined ? {} : {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    };
    const res = await fetch(`${url}${path}`, init);
    const json = await res.json();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
}

/** The coordinator: all functions in one `deno serve` process, state in KV and SVDB on disk. */
function startCoordinator(r: Run): Deno.ChildProcess {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["serve", "-A", "--host", "127.0.0.1", "--port", String(r.port), "functions/router.ts"],
    cwd: root,
    env: {
      ARTHA_RPC_URL: r.net.rpcUrl,
      ARTHA_CHAIN_ID: String(r.net.chainId),
      ARTHA_PRIVATE_KEY: r.coordKey,
      ARTHA_ADDRESSES: JSON.stringify(r.addresses),
      ARTHA_KV_PATH: `${r.dir}/coordinator.kv`,
      ARTHA_STORE_DIR: `${r.dir}/svdb`,
      ARTHA_CRON: "off",
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
  r.procs.push(p);
  return p;
}

/** Laptops: one `worker.ts` process each, for every account after the coordinator's and owner's. */
function startLaptops(r: Run): Deno.ChildProcess[] {
  return r.net.accounts.slice(2).map((acct, i) => {
    const flags = {
      "--coordinator": r.url,
      "--rpc": r.net.rpcUrl,
      "--chain-id": String(r.net.chainId),
      "--addresses": r.addressesFile,
      "--key": `${r.dir}/node${i}.key`,
      "--state": `${r.dir}/worker${i}.json`,
      "--poll": "200",
      "--heartbeat-ms": "1500",
    };
    const p = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "worker.ts", ...Object.entries(flags).flat(), "--quiet"],
      cwd: root,
      env: { ARTHA_PRIVATE_KEY: bytesToHex(acct.getHdKey().privateKey!) },
      stdout: "null",
      stderr: "null",
    }).spawn();
    r.procs.push(p);
    return p;
  });
}

/** Waits for a round's updates, then closes it through POST /aggregate. */
async function closeRound(r: Run, round: number, updates: number) {
  await until(`round ${round} updates`, async () => {
    const j = await r.api(`/status?job=${r.jobId}`);
    return j.round === round && j.roundUpdates === updates;
  }, 90_000);
  const out = await until(`round ${round} closed`, async () => {
    const [o] = await r.api("/aggregate", { jobId: r.jobId });
    return o.status === "closed" && o;
  }, 90_000);
  assert.equal(out.round, round);
  return out;
}

/** Kills the first KILLED assigned laptops; an hour passes on chain; returns them by key. */
async function killLaptops(r: Run, laptops: Deno.ChildProcess[], assigned: Set<string>) {
  const keys = await Promise.all(
    laptops.map((_, i) =>
      Deno.readTextFile(`${r.dir}/node${i}.key`).then((t) => JSON.parse(t).publicKey as string)
    ),
  );
  const victims = laptops.map((p, i) => ({
    p,
    key: `0x${keys[i]!.replace(/^0x/, "")}`.toLowerCase(),
  }))
    .filter((v) => assigned.has(v.key)).slice(0, KILLED);
  for (const v of victims) v.p.kill("SIGKILL");
  await Promise.all(victims.map((v) => v.p.status));
  // A heartbeat or commit a victim wrote just before it died may still reach anvil after a time
  // jump and make it live again: jump until every victim is past the heartbeat window.
  await until("victims no longer live", async () => {
    await r.coordinator.request({ method: "evm_increaseTime" as never, params: [3700] as never });
    await r.coordinator.request({ method: "evm_mine" as never, params: [] as never });
    const live = await Promise.all(victims.map((v) => isLive(r, v.key as Hex)));
    return !live.some(Boolean);
  });
  // The rest keep heartbeating: every other node is live again before round 1 closes.
  await until("survivors and spares live again", async () => {
    const status = await r.api("/status");
    const others = (status.nodes as { nodePubkey: Hex }[]).map((n) => n.nodePubkey)
      .filter((n) => !victims.some((v) => v.key === n));
    const live = await Promise.all(others.map((n) => isLive(r, n)));
    return live.every(Boolean);
  });
  return victims.map((v) => v.key as Hex);
}

function isLive(r: Run, node: Hex): Promise<boolean> {
  const { address, abi } = { address: r.addresses.registry, abi: abis.registry };
  return r.coordinator.readContract({ address, abi, functionName: "isLive", args: [node] });
}

/** Round 2: the coordinator is killed while it aggregates, restarted, and aggregates again. */
async function crashDuringAggregate(r: Run, coord: Deno.ChildProcess): Promise<JobRecord> {
  await until("round 2 updates", async () => {
    const j = await r.api(`/status?job=${r.jobId}`);
    return j.round === 2 && j.roundUpdates === WORKERS;
  }, 90_000);
  const inflight = fetch(`${r.url}/aggregate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jobId: r.jobId }),
  }).then((res) => res.body?.cancel()).catch(() => undefined);
  await new Promise((res) => setTimeout(res, 40));
  coord.kill("SIGKILL");
  await coord.status;
  await inflight;
  startCoordinator(r);
  await until("coordinator restarted", () => r.api("/status"));
  return await until("job completed", async () => {
    await r.api("/aggregate", { jobId: r.jobId }).catch(() => undefined);
    const j = await r.api(`/status?job=${r.jobId}`) as JobRecord;
    return j.status === "completed" && j;
  });
}

/** Each round counted once, on chain too; finalized; killed nodes still paid for round 0. */
async function checkSettled(r: Run, final: JobRecord, victims: Hex[]): Promise<void> {
  assert.deepEqual(final.metrics.map((m) => m.round), [0, 1, 2], "each round counted once");
  const jobs = { address: r.addresses.jobs, abi: abis.jobs } as const;
  const onChain = await r.coordinator.readContract({
    ...jobs,
    functionName: "getJob",
    args: [r.jobId],
  });
  assert.equal(onChain.currentRound, ROUNDS);
  assert.equal(onChain.latestCheckpointCid, final.globalCid);
  assert.ok(final.metrics.at(-1)!.valLoss < final.initialValLoss, "the model learned");
  const [fin] = await r.api("/finalize", { jobId: r.jobId }) as JobRecord[];
  assert.equal(fin!.status, "finalized");
  const settled = await r.coordinator.readContract({
    ...jobs,
    functionName: "getJob",
    args: [r.jobId],
  });
  assert.equal(settled.status, JobStatus.Finalized);
  for (const v of victims) {
    const op = await r.coordinator.readContract({
      ...jobs,
      functionName: "assignedOperator",
      args: [r.jobId, v],
    });
    const claim = await r.coordinator.readContract({
      ...jobs,
      functionName: "claimableOf",
      args: [op],
    });
    assert.ok(claim > 0n, `killed node ${v} earned nothing`);
  }
}

Deno.test({
  name: "a federated job completes with 30% of worker processes killed and a coordinator restart",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "artha-e2e-" });
    const procs: Deno.ChildProcess[] = [];
    await using net = await startDevnet({ accounts: 2 + WORKERS + SPARES, balanceArth: 1000 });
    try {
      const r = await setUp(net, dir, procs);
      const coord = startCoordinator(r);
      await until("coordinator", () => r.api("/status"));
      const laptops = startLaptops(r);
      await until(
        "all workers bound",
        async () => (await r.api("/status")).nodes.length === WORKERS + SPARES,
        90_000,
      );
      const domain = uploadDomain(r.net.chainId, r.addresses.registry);
      const start = await signJson(accountUploadSigner(r.owner), domain, "/assign", {
        jobId: r.jobId,
        specCid: r.specCid,
      });
      const started = await r.api("/assign", start.body, start.headers) as JobRecord;
      assert.equal(started.assigned.length, WORKERS);
      // Round 0: everyone delivers (wait for all ten: at 8 the 80% quorum would close it).
      assert.equal((await closeRound(r, 0, WORKERS)).updates, WORKERS);
      const victims = await killLaptops(r, laptops, new Set(started.assigned));
      // Round 1 closes at its deadline with the survivors; the killed nodes' tasks move to spares.
      const survivors = started.assigned.filter((n) => !victims.includes(n));
      const r1 = await closeRound(r, 1, survivors.length);
      assert.equal(r1.reason, "deadline");
      const afterR1 = await r.api(`/status?job=${r.jobId}`) as JobRecord;
      assert.equal(afterR1.reassigned.length, KILLED);
      for (const v of victims) assert.ok(!afterR1.assigned.includes(v));
      await checkSettled(r, await crashDuringAggregate(r, coord), victims);
    } finally {
      for (const p of procs) {
        try {
          p.kill("SIGKILL");
        } catch {
          // already exited
        }
        await p.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
